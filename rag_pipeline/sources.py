"""The document source: a local folder (listed here, cheap facts without reading contents), or
an object store (`rag_pipeline.object_store_source`), chosen by `open_source`."""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag_pipeline.document_metadata import UserMetadata, is_sidecar, sidecar_beside, sidecar_name
from rag_pipeline.ids import document_id_for, shard_for
from rag_pipeline.ports import DocumentSource
from rag_pipeline.records import SourceFile
from rag_pipeline.settings import Settings

logger = logging.getLogger(__name__)

_TEMPORARY_PATTERNS = ("~$*", "*~", "*.tmp", "*.temp", "*.part", "*.partial", "*.crdownload",
                       "*.swp", "*.swx", "*.lock", "Thumbs.db", "desktop.ini")


def is_ignored_name(name: str) -> bool:
    """Hidden, temporary and partially written files are never documents (nor are metadata
    sidecars, `rag_pipeline.document_metadata`, though they are read)."""
    if name.startswith(".") or is_sidecar(name):
        return True
    return any(fnmatch.fnmatch(name, pattern) for pattern in _TEMPORARY_PATTERNS)


class SourceUnavailableError(RuntimeError):
    """The source could not be listed or read, after retries: the run fails, and nothing is
    deleted or marked failed because of it."""


def matches_globs(relative_path: str, globs: Iterable[str]) -> bool:
    for pattern in globs:
        if fnmatch.fnmatch(relative_path, pattern):
            return True
        # "**/*.pdf" should also match "a.pdf" at the top level.
        if pattern.startswith("**/") and fnmatch.fnmatch(relative_path, pattern[3:]):
            return True
    return False


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def iter_source_files(
    source_dir: Path,
    include_globs: Iterable[str] = ("**/*",),
    exclude_globs: Iterable[str] = (),
) -> Iterator[SourceFile]:
    """Walk the source folder recursively. Symlinks that resolve outside it are not followed."""
    root = source_dir.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"source folder does not exist or is not a folder: {source_dir}")
    include, exclude = tuple(include_globs), tuple(exclude_globs)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not is_ignored_name(d))
        names = set(filenames)
        for name in sorted(filenames):
            if is_ignored_name(name):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not _inside(root, path):
                logger.warning("skipping %s: symlink points outside the source folder", path)
                continue
            relative = path.relative_to(root).as_posix()
            if not matches_globs(relative, include) or matches_globs(relative, exclude):
                continue
            try:
                stat = path.stat()
            except OSError as exc:  # vanished or unreadable between listing and stat
                logger.warning("skipping %s: %s", path, exc)
                continue
            document_id = document_id_for(relative)
            yield SourceFile(
                path=path,
                relative_path=relative,
                document_id=document_id,
                shard=shard_for(document_id),
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                version=_sidecar_facts(path) if sidecar_name(name) in names else "",
            )


def _sidecar_facts(document: Path) -> str:
    try:
        stat = document.with_name(sidecar_name(document.name)).stat()
    except OSError:
        return ""
    return f"meta:{stat.st_size}:{stat.st_mtime_ns}"


def list_source_files(
    source_dir: Path,
    shards: Iterable[str] | None = None,
    include_globs: Iterable[str] = ("**/*",),
    exclude_globs: Iterable[str] = (),
) -> list[SourceFile]:
    wanted = set(shards) if shards is not None else None
    return [
        f
        for f in iter_source_files(source_dir, include_globs, exclude_globs)
        if wanted is None or f.shard in wanted
    ]


class LocalFolderSource:
    """A folder on this machine (or a mounted share): the extraction reads the files in place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return str(self.folder)

    def list_files(self, include_globs: Iterable[str] = ("**/*",),
                   exclude_globs: Iterable[str] = ()) -> Iterator[SourceFile]:
        return iter_source_files(self.folder, include_globs, exclude_globs)

    def fetch(self, file: SourceFile) -> Path:
        return file.path

    def read_metadata(self, file: SourceFile) -> UserMetadata:
        return sidecar_beside(file.path)

    def discard_copies(self) -> None:
        """Nothing was copied."""


def open_source(settings: Settings) -> DocumentSource:
    """`RAG_SOURCE_URI` when it names a store (s3://bucket/prefix, gs://..., any fsspec URL),
    else the folder."""
    if settings.source_uri:
        from rag_pipeline.object_store_source import ObjectStoreSource

        return ObjectStoreSource(settings.source_uri, settings.data_dir / "downloads")
    return LocalFolderSource(settings.source_dir)


def list_documents(source: DocumentSource, shards: Iterable[str] | None,
                   settings: Settings) -> list[SourceFile]:
    """The source's documents in `shards` (all when None), by the settings' globs."""
    wanted = set(shards) if shards is not None else None
    return [f for f in source.list_files(settings.include_globs, settings.exclude_globs)
            if wanted is None or f.shard in wanted]
