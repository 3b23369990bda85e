"""Everything a stage needs, built once from Settings (heavy parts created on first use)."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Protocol

from rag_pipeline.chunking import Chunker, ChunkingConfig
from rag_pipeline.collections import CollectionRegistry
from rag_pipeline.embedding import Embedder, embedder_for
from rag_pipeline.embedding_cache import EmbeddingCache
from rag_pipeline.ledger import Ledger
from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.pipeline.batch import ShardBatch
from rag_pipeline.ports import DocumentSource, VectorIndex
from rag_pipeline.query_graph import export_query_graph
from rag_pipeline.query_model import query_embedder_for
from rag_pipeline.settings import EMBEDDED_ENGINES, Settings
from rag_pipeline.sources import open_source
from rag_pipeline.staging import StageHandOver, open_stage_store
from rag_pipeline.state_database import StateDatabase, embedding_cache_state, pipeline_state
from rag_pipeline.tokenization import tokenizer_for
from rag_pipeline.verified_state import (
    VerifiedStates,
    files_signature,
    ledger_signature,
    signature,
)

logger = logging.getLogger(__name__)


class Log(Protocol):
    """What stages need of a logger: `logging.Logger` and Dagster's `context.log` both fit."""

    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...


def open_vector_index(settings: Settings) -> VectorIndex:
    """The vector index adapter the settings choose (a new backend: one more branch)."""
    s = settings
    if s.qdrant.url is None and s.qdrant.embedded not in EMBEDDED_ENGINES:
        raise ValueError(f"RAG_QDRANT_EMBEDDED must be one of {', '.join(EMBEDDED_ENGINES)},"
                         f" got {s.qdrant.embedded!r}")
    if s.qdrant.url is None and s.qdrant.embedded == "edge":
        from rag_pipeline.edge_store import EdgeStore

        return EdgeStore(path=s.qdrant_path, alias=s.qdrant.collection_alias)
    from rag_pipeline.qdrant_store import QdrantStore  # qdrant-client: slow to import

    return QdrantStore(
        path=s.qdrant_path,
        url=s.qdrant.url,
        api_key=s.qdrant.api_key,
        timeout_seconds=s.qdrant.timeout_seconds,
        alias=s.qdrant.collection_alias,
    )


class PipelineServices:
    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 vector_index: VectorIndex | None = None) -> None:
        """`vector_index`: one a Dagster resource opened for the run (otherwise opened here,
        on first use)."""
        self.settings = settings
        self._embedder = embedder
        self._injected = embedder is not None
        self._vector_index = vector_index

    @cached_property
    def source(self) -> DocumentSource:
        return open_source(self.settings)

    @cached_property
    def state_database(self) -> StateDatabase:
        return pipeline_state(self.settings)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.state_database)

    @cached_property
    def registry(self) -> CollectionRegistry:
        return CollectionRegistry(self.state_database)

    @property
    def target_collection(self) -> str:
        """The collection the configured model writes to (not necessarily the live one)."""
        return self.qdrant.collection_name(self.model)

    def fill_chunks(self, shards: list[str], batches: list[ShardBatch]) -> tuple[list[str], list]:
        """Shards the target collection has not caught up with, and the ledger chunks it lacks
        there (documents changed in this run's batches come from the batches instead)."""
        stale = self.registry.stale_shards(self.target_collection, shards,
                                           self.ledger.shard_generations())
        in_batch = {doc_id for b in batches for doc_id in b.document_ids}
        chunks = [c for c in self.ledger.chunks_in_shards(stale) if c.document_id not in in_batch]
        return stale, chunks

    @cached_property
    def embedding_cache(self) -> EmbeddingCache:
        return EmbeddingCache(embedding_cache_state(self.settings))

    @cached_property
    def verified_states(self) -> VerifiedStates:
        return VerifiedStates(self.state_database)

    def index_state(self, with_bm25: bool = False) -> str | None:
        """A signature of everything the index checks read (the BM25 file only if asked), or
        None where there is no cheap one (a Qdrant server): see `verified_state`."""
        store_state = self.qdrant.state()
        if store_state is None:
            return None
        s = self.settings
        files = [s.golden_set, s.bm25_path if with_bm25 else None]
        return signature(
            store_state, files_signature(files),
            ledger_signature(self.ledger), self.target_collection, self.model.fingerprint,
            s.quality, s.bm25_k1, s.bm25_b, s.qdrant.collection_alias)

    @cached_property
    def stages(self) -> StageHandOver:
        return open_stage_store(self.settings.staging_uri, self.settings.staging_dir)

    @cached_property
    def qdrant(self) -> VectorIndex:
        return self._vector_index or open_vector_index(self.settings)

    @cached_property
    def model(self) -> EmbeddingModelSpec:
        if self._embedder is not None:
            return self._embedder.spec
        return resolve_model(self.settings.embedding_model)

    @cached_property
    def chunker(self) -> Chunker:
        tokenizer = tokenizer_for(self.model.tokenizer_folder, self.model.max_seq_length)
        return Chunker(
            tokenizer,
            ChunkingConfig(self.settings.chunk_tokens, self.settings.chunk_overlap_tokens),
        )

    @property
    def query_embedder(self) -> Embedder:
        """For a few texts (search queries): the model in this process, never worker processes
        (an injected embedder is used as it is)."""
        if self._injected and self._embedder is not None:
            return self._embedder
        return query_embedder_for(self.settings, self.model)

    def export_query_graph(self) -> str:
        """Export the configured model for torch-free query embedding, once; returns where
        ("" when it cannot be exported, or the embedder was injected)."""
        if self._injected:
            return ""
        try:
            folder = export_query_graph(self.model)
        except OSError as exc:  # a read-only cache folder: queries stay on torch
            logger.warning("query graph not exported: %s", exc)
            return ""
        return str(folder) if folder else ""

    def prepare_embedder(self, num_texts: int, wait: bool = True) -> None:
        """Start what `num_texts` texts will use (a worker pool: a worker per batch, up to
        RAG_EMBEDDING_WORKERS); nothing for a backend without start-up."""
        prepare = getattr(self.embedder, "prepare", None)
        if prepare is not None:
            prepare(num_texts, wait=wait)

    def start_embedding_workers(self, num_texts: int) -> None:
        """Begin loading the model in the embedding workers while documents are extracted:
        a small run otherwise waits for both start-ups, one after the other. Speculative: an
        error here is raised again, and reported, by the embedding step."""
        try:
            self.prepare_embedder(num_texts, wait=False)
        except Exception as exc:  # whatever it is, the embedding step meets it again
            logger.debug("embedding workers not started early: %s", exc)

    @property
    def embedder(self) -> Embedder:
        """For the pipeline's embedding stage: RAG_EMBEDDING_WORKERS processes."""
        if self._embedder is None:
            self._embedder = embedder_for(self.model, self.settings.embedding_batch_size,
                                          device=self.settings.embedding_device,
                                          workers=self.settings.embedding_workers,
                                          endpoint=self.settings.embedding_endpoint)
        return self._embedder
