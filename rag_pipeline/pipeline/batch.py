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
    def document_ids(self) -> set[str]:
        """Every document this batch decides about (indexed, duplicate, failed or deleted)."""
        return ({d.document.source.document_id for d in self.chunked}
                | {d.source.document_id for d in self.duplicates}
                | {f.source.document_id for f in self.failures} | set(self.deleted))

    @property
    def chunks(self) -> list:
        return [c for d in self.chunked for c in d.chunks]
