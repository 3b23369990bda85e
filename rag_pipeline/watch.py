"""Watching the source: what changed since the ledger's last commit, from the listing alone.

Used by the sensor on every tick, so it must stay cheap: it lists the folder or the bucket and
reads the ledger, but never reads a document (the run fetches and hashes the candidates).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from rag_pipeline.changes import made_otherwise, same_listing_facts
from rag_pipeline.ledger import Ledger, LedgerDocument
from rag_pipeline.ports import DocumentSource
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.records import SourceFile
from rag_pipeline.settings import Settings
from rag_pipeline.sources import list_documents, open_source


class MassDeletionError(RuntimeError):
    """A listing lost too many documents at once (unmounted share, permissions, empty folder)."""


@dataclass(frozen=True)
class PendingChanges:
    new: list[SourceFile] = field(default_factory=list)
    changed: list[SourceFile] = field(default_factory=list)
    deleted: list[LedgerDocument] = field(default_factory=list)
    settling: int = 0
    """Files modified too recently to be taken (probably still being written)."""
    num_files: int = 0
    num_known: int = 0
    generation: int = 0

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.deleted)

    @property
    def shards(self) -> list[str]:
        touched = {f.shard for f in [*self.new, *self.changed]}
        return sorted(touched | {d.shard for d in self.deleted})

    @property
    def signature(self) -> str:
        """Same pending changes on the same ledger state -> same signature (a run key)."""
        digest = hashlib.sha256(f"generation:{self.generation}".encode())
        for f in sorted([*self.new, *self.changed], key=lambda f: f.document_id):
            digest.update(f"{f.document_id}:{f.size}:{f.mtime_ns}:{f.version}".encode())
        for d in sorted(self.deleted, key=lambda d: d.document_id):
            digest.update(f"deleted:{d.document_id}".encode())
        return digest.hexdigest()[:24]

    def summary(self) -> str:
        return (f"{len(self.new)} new, {len(self.changed)} changed, {len(self.deleted)} deleted "
                f"in {len(self.shards)} shards ({self.num_files} files listed)")


def mass_deletion_reason(num_deleted: int, num_known: int, settings: Settings) -> str | None:
    if num_known < settings.mass_delete_min_documents or num_deleted == 0:
        return None
    share = num_deleted / num_known
    if share <= settings.max_delete_share:
        return None
    where = settings.source_uri or settings.source_dir
    return (
        f"refusing to delete {num_deleted} of {num_known} documents ({share:.0%} > "
        f"{settings.max_delete_share:.0%} allowed): is {where} unmounted or "
        "unreadable? Nothing was deleted. If the deletion is intended, raise "
        "RAG_MAX_DELETE_SHARE (or max_delete_share on the pipeline resource) for one run."
    )


def pending_changes(settings: Settings, ledger: Ledger, settle_seconds: float = 2.0,
                    now: float | None = None,
                    document_source: DocumentSource | None = None) -> PendingChanges:
    now = time.time() if now is None else now
    files = list_documents(document_source or open_source(settings), None, settings)
    known = ledger.documents()
    processing = processing_fingerprint(settings)
    new, changed, seen, settling = [], [], set(), 0
    for source in files:
        seen.add(source.document_id)
        previous = known.get(source.document_id)
        if previous is not None and same_listing_facts(previous, source):
            if made_otherwise(previous, processing):  # same bytes, other chunk settings
                changed.append(source)
            continue
        if now - source.mtime_ns / 1e9 < settle_seconds:
            settling += 1
            continue
        (new if previous is None else changed).append(source)
    deleted = [d for doc_id, d in known.items() if doc_id not in seen]
    return PendingChanges(new, changed, deleted, settling, len(files), len(known),
                          ledger.generation())
