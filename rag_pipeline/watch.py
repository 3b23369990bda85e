"""Watching the source folder: what changed since the ledger's last commit, from stat alone.

Used by the sensor on every tick, so it must stay cheap: it lists and stats files and reads the
ledger, but never reads file contents (the run hashes the candidates).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from rag_pipeline.changes import made_otherwise
from rag_pipeline.ledger import Ledger, LedgerDocument
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.records import SourceFile
from rag_pipeline.settings import Settings
from rag_pipeline.sources import list_source_files


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
            digest.update(f"{f.document_id}:{f.size}:{f.mtime_ns}".encode())
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
    return (
        f"refusing to delete {num_deleted} of {num_known} documents ({share:.0%} > "
        f"{settings.max_delete_share:.0%} allowed): is {settings.source_dir} unmounted or "
        "unreadable? Nothing was deleted. If the deletion is intended, raise "
        "RAG_MAX_DELETE_SHARE (or max_delete_share on the pipeline resource) for one run."
    )


def pending_changes(settings: Settings, ledger: Ledger, settle_seconds: float = 2.0,
                    now: float | None = None) -> PendingChanges:
    now = time.time() if now is None else now
    files = list_source_files(settings.source_dir, None, settings.include_globs,
                              settings.exclude_globs)
    known = ledger.documents()
    processing = processing_fingerprint(settings)
    new, changed, seen, settling = [], [], set(), 0
    for source in files:
        seen.add(source.document_id)
        previous = known.get(source.document_id)
        if previous is not None and (previous.size, previous.mtime_ns) == (
            source.size, source.mtime_ns
        ):
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
