"""Documents in an object store or any other fsspec filesystem (`s3://bucket/prefix`, `gs://`,
`az://`, ...): the `DocumentSource` adapter for everything that is not a local folder.

Change detection stays on the listing: size, the store's change token (version id, ETag or
generation) and modification time are compared with the ledger; only candidates are
downloaded, into a scratch folder the extraction workers read, and hashed there. An unchanged
object is never read. s3fs retries S3's throttling and 5xx answers itself; listing and
downloads are retried on top of that with a jittered backoff, then fail the run clearly. A
listing that failed raises, so nothing is ever deleted on an incomplete listing (and the
mass-deletion guard still stops an empty one).

Credentials, region and endpoint come from the store's standard configuration: for S3 the
AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`)
or an AWS profile, read by botocore.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import fsspec
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from rag_pipeline.document_metadata import (
    UserMetadata,
    from_mapping,
    read_sidecar,
    sidecar_name,
)
from rag_pipeline.ids import document_id_for, shard_for
from rag_pipeline.records import SourceFile
from rag_pipeline.sources import SourceUnavailableError, is_ignored_name, matches_globs

logger = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 4
"""Listing and download attempts (each on top of the store client's own retries)."""
BACKOFF_SECONDS = 1.0
"""The first wait between attempts; doubled (with jitter) each time, at most 30 s."""

_VERSION_KEYS = ("VersionId", "ETag", "etag", "generation", "md5Hash", "content_md5")
_MTIME_KEYS = ("LastModified", "last_modified", "mtime", "updated", "modified", "created")
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_NOT_RETRIED = (*_PERMANENT, ValueError, TypeError, NotImplementedError)


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: connection and server errors, whatever type the store's client
    raises them as (botocore's are not OSErrors), not a missing object or a refused one."""
    return isinstance(exc, Exception) and not isinstance(exc, _NOT_RETRIED)


def modified_ns(info: dict[str, Any]) -> int:
    """The listing's modification time, whichever key and type the store reports it in."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, str):
            try:
                return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
            except ValueError:
                continue
    return 0


def change_token(info: dict[str, Any]) -> str:
    """What changes whenever the bytes do, even within the second a modification time
    resolves: the object's version id, else its ETag (or the store's equivalent)."""
    for key in _VERSION_KEYS:
        if info.get(key):
            return f"{key}:{str(info[key]).strip(chr(34))}"
    return ""


class ObjectStoreSource:
    """`uri` names a bucket and prefix (or any fsspec URL); `scratch_dir` holds the local
    copies of the objects a run extracts, removed after the extraction."""

    def __init__(self, uri: str, scratch_dir: Path, attempts: int | None = None,
                 backoff_seconds: float | None = None, **storage_options: Any) -> None:
        self.uri = uri.rstrip("/")
        # A filesystem of its own: fsspec's shared instances would keep the configuration
        # (endpoint, credentials) of whichever source this process opened first.
        self.fs, root = fsspec.core.url_to_fs(self.uri, skip_instance_cache=True,
                                              **storage_options)
        self.root = root.rstrip("/")
        self.scratch_dir = scratch_dir
        self._attempts = attempts or ATTEMPTS
        # One retry policy for the listing and every download.
        self._retrying = retry(
            retry=retry_if_exception(_transient), stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(
                initial=BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds, max=30),
            before_sleep=lambda state: logger.warning(
                "%s: attempt %d failed (%s), retrying", self.uri, state.attempt_number,
                state.outcome.exception() if state.outcome else None),
            reraise=True)

    def _retried(self, call: Callable[..., T], *args: Any) -> T:
        return self._retrying(call)(*args)

    def describe(self) -> str:
        return self.uri

    def _listing(self) -> dict[str, dict[str, Any]]:
        self.fs.invalidate_cache()  # every listing asks the store, never an earlier answer
        return self.fs.find(self.root, detail=True)

    def list_files(self, include_globs: Iterable[str] = ("**/*",),
                   exclude_globs: Iterable[str] = ()) -> Iterator[SourceFile]:
        try:
            listing = self._retried(self._listing)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"source does not exist: {self.uri} ({exc})") from exc
        except PermissionError as exc:
            raise SourceUnavailableError(f"not allowed to list {self.uri}: {exc}") from exc
        except Exception as exc:  # the store's client's own error types
            raise SourceUnavailableError(
                f"cannot list {self.uri} after {self._attempts} attempts: {exc}") from exc
        include, exclude = tuple(include_globs), tuple(exclude_globs)
        for name in sorted(listing):
            info = listing[name]
            if info.get("type", "file") != "file":
                continue
            relative = name[len(self.root):].lstrip("/")
            if not relative or any(is_ignored_name(part) for part in relative.split("/")):
                continue
            if not matches_globs(relative, include) or matches_globs(relative, exclude):
                continue
            document_id = document_id_for(relative)
            yield SourceFile(
                path=self.scratch_dir / document_id / PurePosixPath(relative).name,
                relative_path=relative, document_id=document_id, shard=shard_for(document_id),
                size=int(info.get("size") or 0), mtime_ns=modified_ns(info),
                version=change_token(info) + _sidecar_token(listing, sidecar_name(name)))

    def fetch(self, file: SourceFile) -> Path:
        """Download the object to `file.path` (the extraction workers read local files).
        FileNotFoundError when it vanished since the listing (that document's problem); any
        other failure, after the retries, is the store's and fails the run."""
        file.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._retried(self.fs.get_file, f"{self.root}/{file.relative_path}", str(file.path))
        except _PERMANENT:
            raise
        except Exception as exc:  # the store's client's own error types
            raise SourceUnavailableError(
                f"cannot read {self.uri}/{file.relative_path} after {self._attempts} "
                f"attempts: {exc}") from exc
        return file.path

    def read_metadata(self, file: SourceFile) -> UserMetadata:
        """The object's user metadata (S3 `x-amz-meta-*`), then its sidecar object's."""
        key = f"{self.root}/{file.relative_path}"
        try:
            stored = from_mapping(self._retried(self._user_metadata, key))
        except _PERMANENT:
            stored = UserMetadata()
        except Exception as exc:  # the store's client's own error types
            raise SourceUnavailableError(
                f"cannot read the metadata of {self.uri}/{file.relative_path} after "
                f"{self._attempts} attempts: {exc}") from exc
        if " meta:" not in file.version:
            return stored
        copy = file.path.with_name(sidecar_name(file.path.name))
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._retried(self.fs.get_file, sidecar_name(key), str(copy))
        except _PERMANENT:
            return stored  # deleted since the listing: the next run sees it gone
        except Exception as exc:
            raise SourceUnavailableError(
                f"cannot read {self.uri}/{sidecar_name(file.relative_path)} after "
                f"{self._attempts} attempts: {exc}") from exc
        return stored.merged(read_sidecar(copy))

    def _user_metadata(self, key: str) -> dict[str, Any]:
        """s3fs asks HEAD for it (`metadata`); other stores put it in `info` (gcsfs)."""
        if hasattr(self.fs, "metadata"):
            return dict(self.fs.metadata(key, refresh=True) or {})
        return dict(self.fs.info(key).get("metadata") or {})

    def discard_copies(self) -> None:
        shutil.rmtree(self.scratch_dir, ignore_errors=True)


def _sidecar_token(listing: dict[str, dict[str, Any]], sidecar: str) -> str:
    """The sidecar object's change token, when the document has one."""
    info = listing.get(sidecar)
    return f" meta:{change_token(info) or modified_ns(info)}" if info else ""
