"""The ledger diff: which documents of a shard are new, changed, unchanged or deleted.

Cheap first: a file whose listing facts (size, mtime, a store's change token) match the ledger
is unchanged without being read. Only candidates (new files, or files whose facts changed) are
fetched (an object: downloaded) and hashed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag_pipeline.document_metadata import UserMetadata, read_front_matter, sidecar_beside
from rag_pipeline.ids import file_hash, text_hash
from rag_pipeline.ledger import LedgerDocument
from rag_pipeline.records import SourceFile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingFile:
    source: SourceFile
    file_hash: str | None
    """None when the file could not be read; extraction then records why."""


@dataclass
class ChangeSet:
    new: list[PendingFile] = field(default_factory=list)
    changed: list[PendingFile] = field(default_factory=list)
    unchanged: int = 0
    touched: list[SourceFile] = field(default_factory=list)
    deleted: list[LedgerDocument] = field(default_factory=list)
    hashed: int = 0
    reprocessed: int = 0
    """Of `changed`: same bytes, made with another processing fingerprint."""

    @property
    def pending(self) -> list[PendingFile]:
        return [*self.new, *self.changed]


def made_otherwise(previous: LedgerDocument, processing: str | None) -> bool:
    """Its chunks were made with another processing fingerprint (`rag_pipeline.processing`).
    A document recorded before fingerprints were is taken as current: upgrading must not
    re-process a whole corpus by itself."""
    return (processing is not None and previous.processing is not None
            and previous.processing != processing)


def same_listing_facts(previous: LedgerDocument, source: SourceFile) -> bool:
    """Unchanged as far as the listing can tell (a document recorded before change tokens
    were has none, as a local file)."""
    return ((previous.size, previous.mtime_ns, previous.version or "")
            == (source.size, source.mtime_ns, source.version))


def _in_place(source: SourceFile) -> Path:
    return source.path


def _sidecar_beside(source: SourceFile) -> UserMetadata:
    return sidecar_beside(source.path)


def with_metadata(source: SourceFile, describe: Callable[[SourceFile], UserMetadata]
                  ) -> SourceFile:
    """The fetched document with the title and tags its front matter, store and sidecar
    give (in that order: the sidecar's title wins)."""
    metadata = read_front_matter(source.path).merged(describe(source))
    return replace(source, title=metadata.title, tags=metadata.tags)


def document_hash(source: SourceFile) -> str:
    """Its bytes' hash, with its metadata when it has some: a new tag re-processes it."""
    digest = file_hash(source.path)
    metadata = UserMetadata(source.title, source.tags)
    return text_hash(digest + metadata.digest()) if metadata else digest


def diff_against_ledger(
    files: list[SourceFile], known: dict[str, LedgerDocument], processing: str | None = None,
    fetch: Callable[[SourceFile], Path] = _in_place,
    describe: Callable[[SourceFile], UserMetadata] = _sidecar_beside,
) -> ChangeSet:
    """`processing`: the run's fingerprint; same bytes made with another one are changed.
    `fetch`: where a pending document's bytes are read (an object store's local copy);
    `describe`: what its store and sidecar say about it (`DocumentSource.read_metadata`)."""
    changes = ChangeSet()
    seen: set[str] = set()
    for source in files:
        seen.add(source.document_id)
        previous = known.get(source.document_id)
        if (
            previous is not None
            and previous.file_hash is not None
            and same_listing_facts(previous, source)
        ):
            if made_otherwise(previous, processing):
                try:
                    source = with_metadata(replace(source, path=fetch(source)), describe)
                except OSError as exc:
                    logger.warning("cannot read %s: %s", source.relative_path, exc)
                changes.changed.append(PendingFile(source, previous.file_hash))
                changes.reprocessed += 1
            else:
                changes.unchanged += 1
            continue
        try:
            source = with_metadata(replace(source, path=fetch(source)), describe)
            digest: str | None = document_hash(source)
        except OSError as exc:
            logger.warning("cannot read %s: %s", source.relative_path, exc)
            digest = None
        changes.hashed += 1
        if previous is None:
            changes.new.append(PendingFile(source, digest))
        elif digest is not None and digest == previous.file_hash and made_otherwise(
                previous, processing):
            changes.changed.append(PendingFile(source, digest))
            changes.reprocessed += 1
        elif digest is not None and digest == previous.file_hash:
            # Same bytes (touched, copied back, or a failed document that did not change):
            # nothing to redo; failed documents are not retried until their content changes.
            changes.unchanged += 1
            changes.touched.append(source)
        else:
            changes.changed.append(PendingFile(source, digest))
    changes.deleted = [doc for doc_id, doc in known.items() if doc_id not in seen]
    return changes
