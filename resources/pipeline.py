"""Resources that turn Dagster configuration into the core's Settings and services."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from rag_pipeline.pipeline.services import PipelineServices, open_vector_index
from rag_pipeline.ports import VectorIndex
from rag_pipeline.settings import (
    DEFAULT_COLLECTION_ALIAS,
    DEFAULT_EMBEDDING_MODEL,
    EmbeddingEndpoint,
    QualityThresholds,
    Settings,
    resolve_source,
)

_QUALITY = QualityThresholds()
_ENDPOINT = EmbeddingEndpoint()


class PipelineSettingsResource(ConfigurableResource):
    """Where documents come from, where the pipeline keeps its state, how it chunks, embeds
    and checks. Every field has an environment variable (see the README)."""

    source_dir: str = Field(description="Folder of documents (RAG_SOURCE_DIR)")
    source_uri: str | None = Field(default=None, description="Documents in an object store "
                                   "instead: s3://bucket/prefix or another fsspec URL "
                                   "(RAG_SOURCE_URI; credentials from the store's standard "
                                   "variables, e.g. AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL)")
    data_dir: str = Field(description="Ledger, BM25 index, local Qdrant, caches (RAG_DATA_DIR)")
    embedding_model: str = Field(default=DEFAULT_EMBEDDING_MODEL,
                                 description="Packaged model name or local model folder")
    embedding_batch_size: int = 32
    embedding_workers: int = Field(default=2, description="Embedding worker processes, each "
                                   "with cores / workers threads (RAG_EMBEDDING_WORKERS)")
    embedding_device: str = Field(default="auto", description="auto (CUDA, then MPS, then CPU), "
                                  "cpu, cuda, cuda:N or mps (RAG_EMBEDDING_DEVICE)")
    embedding_url: str | None = Field(default=None, description="OpenAI-compatible API serving "
                                      "an openai: model, e.g. https://api.openai.com/v1 "
                                      "(RAG_EMBEDDING_URL)")
    embedding_api_key: str | None = Field(default=None, description="Its API key "
                                          "(RAG_EMBEDDING_API_KEY)")
    embedding_concurrency: int = Field(default=_ENDPOINT.concurrency, description="Requests in "
                                       "flight at once (RAG_EMBEDDING_CONCURRENCY)")
    embedding_requests_per_minute: int = Field(
        default=_ENDPOINT.requests_per_minute, description="The provider's request limit, "
        "0: none (RAG_EMBEDDING_REQUESTS_PER_MINUTE)")
    embedding_tokens_per_minute: int = Field(
        default=_ENDPOINT.tokens_per_minute, description="The provider's token limit, 0: none "
        "(RAG_EMBEDDING_TOKENS_PER_MINUTE)")
    embedding_timeout_seconds: float = _ENDPOINT.timeout_seconds
    embedding_max_attempts: int = _ENDPOINT.max_attempts
    embedding_backoff_seconds: float = _ENDPOINT.backoff_seconds
    chunk_tokens: int = Field(default=200, description="Max tokens per chunk (model tokenizer)")
    chunk_overlap_tokens: int = 32
    include_globs: list[str] = Field(default_factory=lambda: ["**/*"])
    exclude_globs: list[str] = Field(default_factory=list)
    max_delete_share: float = Field(
        default=0.5, description="Refuse a run/tick that would delete more than this share of "
        "the known documents (RAG_MAX_DELETE_SHARE)")
    mass_delete_min_documents: int = Field(
        default=10, description="...once at least this many documents are known "
        "(RAG_MASS_DELETE_MIN_DOCUMENTS)")
    keep_previous_collections: int = 2
    extract_timeout_seconds: float = Field(default=120.0, description="Per-document extraction "
                                           "time limit (RAG_EXTRACT_TIMEOUT_SECONDS)")
    extract_memory_mb: int = 4096
    extract_workers: int = 2
    max_file_mb: int = 200
    max_pages: int = 2000
    ocr_language: str = Field(default="eng", description="Tesseract language(s) for pages "
                              "without a text layer; empty turns OCR off (RAG_OCR_LANGUAGE)")
    ocr_max_pages: int = 20
    bm25_k1: float = Field(default=0.9, description="BM25 k1 (RAG_BM25_K1)")
    bm25_b: float = Field(default=0.4, description="BM25 b (RAG_BM25_B)")
    rrf_k: int = Field(default=60, description="Hybrid search RRF constant (RAG_RRF_K)")
    keyword_index: str = Field(default="auto", description="BM25 for searches: auto, "
                               "rank-bm25 or qdrant (RAG_KEYWORD_INDEX)")
    golden_set: str | None = Field(default=None, description="Golden questions for the "
                                   "retrieval smoke check (RAG_GOLDEN_SET)")
    tiny_chunk_tokens: int = _QUALITY.tiny_chunk_tokens
    min_chunks_for_shares: int = _QUALITY.min_chunks_for_shares
    max_document_garbled_share: float = _QUALITY.max_document_garbled_share
    max_tiny_share: float = _QUALITY.max_tiny_share
    max_duplicate_share: float = _QUALITY.max_duplicate_share
    max_garbled_share: float = _QUALITY.max_garbled_share
    retrieval_k: int = _QUALITY.retrieval_k
    min_retrieval_recall: float = _QUALITY.min_retrieval_recall
    token_recount_sample: int = _QUALITY.token_recount_sample
    min_probe_cosine: float = Field(default=_QUALITY.min_probe_cosine, description="Drift "
                                    "canary: lowest cosine of a probe text's vector to its "
                                    "first one (RAG_CHECK_MIN_PROBE_COSINE)")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PipelineSettingsResource:
        values: dict[str, Any] = {
            "source_dir": str(settings.source_dir),
            "source_uri": settings.source_uri,
            "data_dir": str(settings.data_dir),
            "embedding_model": settings.embedding_model,
            "embedding_batch_size": settings.embedding_batch_size,
            "embedding_workers": settings.embedding_workers,
            "embedding_device": settings.embedding_device,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap_tokens": settings.chunk_overlap_tokens,
            "include_globs": list(settings.include_globs),
            "exclude_globs": list(settings.exclude_globs),
            "max_delete_share": settings.max_delete_share,
            "mass_delete_min_documents": settings.mass_delete_min_documents,
            "keep_previous_collections": settings.keep_previous_collections,
            "extract_timeout_seconds": settings.extract_timeout_seconds,
            "extract_memory_mb": settings.extract_memory_mb,
            "extract_workers": settings.extract_workers,
            "max_file_mb": settings.max_file_mb,
            "max_pages": settings.max_pages,
            "ocr_language": settings.ocr_language,
            "ocr_max_pages": settings.ocr_max_pages,
            "bm25_k1": settings.bm25_k1,
            "bm25_b": settings.bm25_b,
            "rrf_k": settings.rrf_k,
            "keyword_index": settings.keyword_index,
            "golden_set": str(settings.golden_set) if settings.golden_set else None,
        }
        values.update({k: v for k, v in asdict(settings.quality).items()
                       if k in cls.model_fields})
        values.update({f"embedding_{k}": v for k, v in asdict(settings.embedding_endpoint).items()})
        values.update(overrides)
        return cls(**values)


class QdrantResource(ConfigurableResource):
    """The vector index of a run: Qdrant Edge under the data folder unless `url` is set.

    The resource owns the adapter: every step of a run gets the same one, opened at its first
    use (where it lives depends on the pipeline resource's data folder) and closed in
    `teardown_after_execution`. What stays open between steps is the adapter's call
    (`run_session`): nothing on Edge, whose opens are cheap, so searches interleave with a run;
    the one opening on qdrant-client's local mode, which loads every point on open."""

    url: str | None = Field(default=None, description="Qdrant server URL (QDRANT_URL)")
    api_key: str | None = Field(default=None, description="Qdrant API key (QDRANT_API_KEY)")
    timeout_seconds: int = 30
    collection_alias: str = DEFAULT_COLLECTION_ALIAS
    embedded: str = Field(default="edge", description="Without a URL: edge (Qdrant's engine "
                          "in-process) or local-mode (RAG_QDRANT_EMBEDDED)")

    @classmethod
    def from_settings(cls, settings: Settings) -> QdrantResource:
        return cls(url=settings.qdrant_url, api_key=settings.qdrant_api_key,
                   timeout_seconds=settings.qdrant_timeout_seconds,
                   collection_alias=settings.collection_alias,
                   embedded=settings.qdrant_embedded)

    _store: VectorIndex | None = PrivateAttr(default=None)
    _held: ExitStack = PrivateAttr(default_factory=ExitStack)

    def store(self, settings: Settings) -> VectorIndex:
        if self._store is None:
            self._store = open_vector_index(settings)
            self._held.enter_context(self._store.run_session())
        return self._store

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        store, self._store = self._store, None
        try:
            self._held.close()
        finally:
            if store is not None:
                store.close()


def pipeline_services(
    pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> PipelineServices:
    """What a step calls the core with: the settings, and the run's vector index."""
    settings = pipeline_settings(pipeline, qdrant)
    return PipelineServices(settings, vector_index=qdrant.store(settings))


def pipeline_settings(pipeline: PipelineSettingsResource, qdrant: QdrantResource) -> Settings:
    quality = QualityThresholds(**{
        name: getattr(pipeline, name) for name in asdict(_QUALITY)
        if name in PipelineSettingsResource.model_fields
    })
    endpoint = EmbeddingEndpoint(**{
        name: getattr(pipeline, f"embedding_{name}") for name in asdict(_ENDPOINT)})
    source_dir, source_uri = resolve_source(pipeline.source_uri, pipeline.source_dir)
    return Settings(
        source_dir=source_dir,
        source_uri=source_uri,
        data_dir=Path(pipeline.data_dir).expanduser(),
        qdrant_url=qdrant.url or None,
        qdrant_api_key=qdrant.api_key or None,
        qdrant_timeout_seconds=qdrant.timeout_seconds,
        collection_alias=qdrant.collection_alias,
        qdrant_embedded=qdrant.embedded,
        embedding_model=pipeline.embedding_model,
        embedding_batch_size=pipeline.embedding_batch_size,
        embedding_workers=pipeline.embedding_workers,
        embedding_device=pipeline.embedding_device,
        embedding_endpoint=replace(endpoint, url=endpoint.url or None,
                                   api_key=endpoint.api_key or None),
        chunk_tokens=pipeline.chunk_tokens,
        chunk_overlap_tokens=pipeline.chunk_overlap_tokens,
        include_globs=tuple(pipeline.include_globs),
        exclude_globs=tuple(pipeline.exclude_globs),
        max_delete_share=pipeline.max_delete_share,
        mass_delete_min_documents=pipeline.mass_delete_min_documents,
        keep_previous_collections=pipeline.keep_previous_collections,
        extract_timeout_seconds=pipeline.extract_timeout_seconds,
        extract_memory_mb=pipeline.extract_memory_mb,
        extract_workers=pipeline.extract_workers,
        max_file_mb=pipeline.max_file_mb,
        max_pages=pipeline.max_pages,
        ocr_language=pipeline.ocr_language,
        ocr_max_pages=pipeline.ocr_max_pages,
        bm25_k1=pipeline.bm25_k1,
        bm25_b=pipeline.bm25_b,
        rrf_k=pipeline.rrf_k,
        keyword_index=pipeline.keyword_index,
        quality=quality,
        golden_set=Path(pipeline.golden_set) if pipeline.golden_set else None,
    )
