"""Resources that turn Dagster configuration into the core's Settings and services."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import DEFAULT_COLLECTION_ALIAS, DEFAULT_EMBEDDING_MODEL, Settings


class PipelineSettingsResource(ConfigurableResource):
    """Where documents come from, where the pipeline keeps its state, how it chunks and embeds."""

    source_dir: str = Field(description="Folder of documents (RAG_SOURCE_DIR)")
    data_dir: str = Field(description="Ledger, BM25 index, local Qdrant, caches (RAG_DATA_DIR)")
    embedding_model: str = Field(default=DEFAULT_EMBEDDING_MODEL,
                                 description="Packaged model name or local model folder")
    embedding_batch_size: int = 32
    chunk_tokens: int = Field(default=200, description="Max tokens per chunk (model tokenizer)")
    chunk_overlap_tokens: int = 32
    include_globs: list[str] = Field(default_factory=lambda: ["**/*"])
    exclude_globs: list[str] = Field(default_factory=list)
    max_delete_share: float = Field(
        default=0.5, description="Refuse a run/tick that would delete more than this share of "
        "the known documents (RAG_MAX_DELETE_SHARE)")


class QdrantResource(ConfigurableResource):
    """Qdrant: embedded local mode under the data folder unless `url` is set."""

    url: str | None = Field(default=None, description="Qdrant server URL (QDRANT_URL)")
    api_key: str | None = Field(default=None, description="Qdrant API key (QDRANT_API_KEY)")
    timeout_seconds: int = 30
    collection_alias: str = DEFAULT_COLLECTION_ALIAS


def pipeline_services(
    pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> PipelineServices:
    settings = Settings(
        source_dir=Path(pipeline.source_dir).expanduser(),
        data_dir=Path(pipeline.data_dir).expanduser(),
        qdrant_url=qdrant.url or None,
        qdrant_api_key=qdrant.api_key or None,
        qdrant_timeout_seconds=qdrant.timeout_seconds,
        collection_alias=qdrant.collection_alias,
        embedding_model=pipeline.embedding_model,
        embedding_batch_size=pipeline.embedding_batch_size,
        chunk_tokens=pipeline.chunk_tokens,
        chunk_overlap_tokens=pipeline.chunk_overlap_tokens,
        include_globs=tuple(pipeline.include_globs),
        exclude_globs=tuple(pipeline.exclude_globs),
        max_delete_share=pipeline.max_delete_share,
    )
    return PipelineServices(settings)
