"""The batch that moves through the stages for one shard: only the documents that changed."""

from __future__ import annotations

from dataclasses import dataclass

from rag_pipeline.records import (
    ChunkedDocument,
    CleanedDocument,
    DocumentFailure,
    ExtractedDocument,
    SourceFile,
)


@dataclass(frozen=True)
class ShardBatch:
    shard: str
    new_ids: frozenset[str]
    changed_ids: frozenset[str]
    num_unchanged: int
    touched: tuple[SourceFile, ...]
    deleted: tuple[str, ...]
    failures: tuple[DocumentFailure, ...]
    extracted: tuple[ExtractedDocument, ...] = ()
    cleaned: tuple[CleanedDocument, ...] = ()
    duplicates: tuple[CleanedDocument, ...] = ()
    chunked: tuple[ChunkedDocument, ...] = ()
    embedding_fingerprint: str | None = None

    @property
    def chunks(self) -> list:
        return [c for d in self.chunked for c in d.chunks]
