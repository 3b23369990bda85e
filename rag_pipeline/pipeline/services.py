"""Everything a stage needs, built once from Settings (heavy parts created on first use)."""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

from rag_pipeline.chunking import Chunker, ChunkingConfig
from rag_pipeline.embedding import Embedder, embedder_for
from rag_pipeline.embedding_cache import EmbeddingCache
from rag_pipeline.ledger import Ledger
from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.qdrant_store import QdrantStore
from rag_pipeline.settings import Settings
from rag_pipeline.staging import StageStore
from rag_pipeline.tokenization import tokenizer_for


class Log(Protocol):
    """What stages need of a logger: `logging.Logger` and Dagster's `context.log` both fit."""

    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...


class PipelineServices:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.settings.ledger_path)

    @cached_property
    def embedding_cache(self) -> EmbeddingCache:
        return EmbeddingCache(self.settings.embedding_cache_path)

    @cached_property
    def stages(self) -> StageStore:
        return StageStore(self.settings.staging_dir)

    @cached_property
    def qdrant(self) -> QdrantStore:
        s = self.settings
        return QdrantStore(
            path=s.qdrant_path,
            url=s.qdrant_url,
            api_key=s.qdrant_api_key,
            timeout_seconds=s.qdrant_timeout_seconds,
            alias=s.collection_alias,
        )

    @cached_property
    def model(self) -> EmbeddingModelSpec:
        if self._embedder is not None:
            return self._embedder.spec
        return resolve_model(self.settings.embedding_model)

    @cached_property
    def chunker(self) -> Chunker:
        tokenizer = tokenizer_for(self.model.path, self.model.max_seq_length)
        return Chunker(
            tokenizer,
            ChunkingConfig(self.settings.chunk_tokens, self.settings.chunk_overlap_tokens),
        )

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.model, self.settings.embedding_batch_size)
        return self._embedder
