"""Qdrant: the embedded local mode under the data folder by default, a server when a URL is set.

Local mode locks its folder to one client at a time. Every user of the store (runs, checks,
`rag-pipeline search`) opens it through `session()`, which waits on a file lock and holds it
briefly, so a search during an ingest run waits a moment instead of crashing.
Readers go through an alias (`chunks`) that points to the live collection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

import numpy as np
from filelock import FileLock
from qdrant_client import QdrantClient, models

from rag_pipeline.models import EmbeddingModelSpec

logger = logging.getLogger(__name__)

T = TypeVar("T")
_UPSERT_BATCH = 256
_SCROLL_PAGE = 16384
_LOCAL_FILTER_DOCUMENTS = 32
"""Local mode: up to this many documents, a filter is cheaper than listing every point."""
_POINTS_PER_SESSION = 16384
"""A writer releases the local-mode lock this often (about every 5 s of writing), so searches
interleave with long writes."""


def speed_up_local_writes(client: QdrantClient) -> None:
    """Switch the SQLite files of a local-mode client's collections to WAL journaling.

    qdrant-client's local mode commits every point in its own transaction with SQLite's default
    rollback journal: one fsync per point, ~700 points/s here. In WAL mode with
    synchronous=NORMAL each commit stays atomic and survives a killed or crashed process (only an
    OS crash or power loss can lose the last commits, which the blocking count checks against
    the ledger would report); the same writes run ~4.7x faster (3,350 against 715 points/s).
    The storage objects are qdrant-client internals: if a release renames them, this does
    nothing and writes are just slower.
    """
    for connection in _collection_files(client):
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")


def settle_local_writes(client: QdrantClient) -> None:
    """Move a local-mode client's committed writes from SQLite's WAL files into the collections'
    main files, which closing the client would otherwise do: after this, closing changes no file
    that `verified_state` reads, so checks run on an open store can record what they verified.
    A no-op where the internals differ (see `speed_up_local_writes`)."""
    for connection in _collection_files(client):
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _collection_files(client: QdrantClient) -> list[sqlite3.Connection]:
    """The SQLite connections of a local-mode client's collections (qdrant-client internals:
    none when a release renames them)."""
    collections = getattr(getattr(client, "_client", None), "collections", None)
    if not isinstance(collections, dict):
        return []
    connections = [getattr(getattr(c, "storage", None), "storage", None)
                   for c in collections.values()]
    return [c for c in connections if isinstance(c, sqlite3.Connection)]


def _open_local(path: Path) -> QdrantClient:
    client = QdrantClient(path=str(path))
    speed_up_local_writes(client)
    return client


class QdrantStore:
    def __init__(
        self,
        *,
        path: Path,
        url: str | None = None,
        api_key: str | None = None,
        timeout_seconds: int = 30,
        alias: str = "chunks",
        lock_timeout_seconds: float = 600,
        retries: int = 3,
    ) -> None:
        self.path = path
        self.url = url
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.alias = alias
        self.lock_timeout_seconds = lock_timeout_seconds
        self.retries = retries
        self._remote: QdrantClient | None = None
        self._held: QdrantClient | None = None
        self._held_by: int | None = None
        self._held_lock: FileLock | None = None
        self._hold_wanted_by: int | None = None

    @property
    def is_local(self) -> bool:
        return self.url is None

    def describe(self) -> str:
        """Where the points live, for logs and metadata (never the API key)."""
        return self.url if self.url else f"local:{self.path}"

    @contextmanager
    def session(self) -> Iterator[QdrantClient]:
        """A client for a short piece of work (local mode: the folder is locked meanwhile)."""
        me = threading.get_ident()
        if self._held is None and self._hold_wanted_by == me:
            self._open_hold()  # inside holding(): the first use opens, the others reuse
        if self._held is not None and self._held_by == me:
            yield self._held
            return
        if self.url:
            if self._remote is None:
                self._remote = QdrantClient(
                    url=self.url, api_key=self._api_key, timeout=self.timeout_seconds
                )
            yield self._remote
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=self.lock_timeout_seconds):
            client = _open_local(self.path)
            try:
                yield client
            finally:
                client.close()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Keep one client open for several calls (checks, publishing): local mode loads the
        whole collection on every open. Opened by the first call that needs it (none: never);
        searches from other processes wait while it is open."""
        me = threading.get_ident()
        if not self.is_local or self._hold_wanted_by == me:
            yield
            return
        self._hold_wanted_by = me
        try:
            yield
        finally:
            self._hold_wanted_by = None
            if self._held is not None and self._held_by == me:
                self._close_hold()

    def _open_hold(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path) + ".lock", timeout=self.lock_timeout_seconds)
        lock.acquire()
        try:
            client = _open_local(self.path)
        except BaseException:
            lock.release()
            raise
        self._held, self._held_by, self._held_lock = client, threading.get_ident(), lock

    def settle(self) -> None:
        """Inside holding(), with the client open: make the folder's files final (see
        `settle_local_writes`). Nothing to do otherwise: a closed store's files are final."""
        if self._held is not None and self._held_by == threading.get_ident():
            settle_local_writes(self._held)

    def _close_hold(self) -> None:
        client, lock = self._held, self._held_lock
        self._held = self._held_by = self._held_lock = None
        try:
            if client is not None:
                client.close()
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _hold_released(self) -> Iterator[None]:
        """Bulk writes give the local-mode lock up between their sessions even inside
        holding(), so searches are not shut out for a whole large upsert (the next call
        opens it again)."""
        me = threading.get_ident()
        if not (self.is_local and self._hold_wanted_by == me):
            yield
            return
        if self._held is not None and self._held_by == me:
            self._close_hold()
        self._hold_wanted_by = None  # each session of the write opens and closes
        try:
            yield
        finally:
            self._hold_wanted_by = me

    def _retry(self, action: str, fn: Callable[[], T]) -> T:
        delay = 1.0
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except Exception as exc:
                if self.is_local or attempt == self.retries:
                    if not self.is_local:
                        raise RuntimeError(
                            f"Qdrant {action} failed after {attempt} attempts at {self.url}: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    raise
                logger.warning("Qdrant %s failed (attempt %d/%d): %s; retrying in %.0fs",
                               action, attempt, self.retries, exc, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # -- collections ---------------------------------------------------------------------------

    def collection_name(self, spec: EmbeddingModelSpec) -> str:
        """One collection per embedding fingerprint: chunks__<model>__<fingerprint>."""
        return f"{self.alias}__{spec.slug}__{spec.fingerprint}"

    def live_collection(self, client: QdrantClient) -> str | None:
        for alias in client.get_aliases().aliases:
            if alias.alias_name == self.alias:
                return alias.collection_name
        return None

    def live(self) -> str | None:
        """The collection the alias points to (what readers see), None before the first one."""
        with self.session() as client:
            return self.live_collection(client)

    def ensure_collection(self, name: str, dimension: int) -> None:
        def _ensure() -> None:
            with self.session() as client:
                if client.collection_exists(name):
                    return
                client.create_collection(
                    name,
                    vectors_config=models.VectorParams(size=dimension,
                                                       distance=models.Distance.COSINE),
                )
                if self.is_local:
                    speed_up_local_writes(client)  # the new collection's file
                else:  # local mode ignores payload indexes (and warns)
                    for field_name in ("document_id", "shard"):
                        client.create_payload_index(name, field_name,
                                                    models.PayloadSchemaType.KEYWORD)
                logger.info("created Qdrant collection %s (dim %d)", name, dimension)

        self._retry("create collection", _ensure)

    def point_alias(self, name: str) -> str | None:
        """Move the alias to `name` in one atomic call; returns the previous collection."""
        def _swap() -> str | None:
            with self.session() as client:
                if not client.collection_exists(name):
                    raise LookupError(f"collection {name} does not exist")
                previous = self.live_collection(client)
                operations: list[models.AliasOperations] = []
                if previous is not None:
                    operations.append(models.DeleteAliasOperation(
                        delete_alias=models.DeleteAlias(alias_name=self.alias)))
                operations.append(models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=name, alias_name=self.alias)))
                client.update_collection_aliases(change_aliases_operations=operations)
                return previous

        return self._retry("alias swap", _swap)

    def collections(self) -> list[str]:
        with self.session() as client:
            return sorted(c.name for c in client.get_collections().collections)

    def drop_collection(self, name: str) -> None:
        with self.session() as client:
            client.delete_collection(name)

    # -- writes --------------------------------------------------------------------------------

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict[str, object]],
    ) -> None:
        sessions = [(lo, min(lo + _POINTS_PER_SESSION, len(ids)))
                    for lo in range(0, len(ids), _POINTS_PER_SESSION)]

        def _write(lo: int, hi: int) -> None:
            with self.session() as client:
                for start in range(lo, hi, _UPSERT_BATCH):
                    end = min(start + _UPSERT_BATCH, hi)
                    client.upsert(
                        collection,
                        points=models.Batch(
                            ids=list(ids[start:end]),
                            vectors=vectors[start:end].tolist(),
                            payloads=list(payloads[start:end]),
                        ),
                        wait=True,
                    )

        with self._hold_released() if len(sessions) > 1 else nullcontext():
            for lo, hi in sessions[:-1]:
                self._retry("upsert", lambda lo=lo, hi=hi: _write(lo, hi))
        # Inside holding(), the last session's client stays open for what follows (local mode
        # loads every point on open).
        for lo, hi in sessions[-1:]:
            self._retry("upsert", lambda lo=lo, hi=hi: _write(lo, hi))

    def delete_stale(self, collection: str, keep: dict[str, set[str]]) -> None:
        """For the given documents, delete every point not in their current chunk sets.

        By the points found, not by remembered ids: orphans left by a run that died mid-write go
        too. An empty set deletes all of a document's points.
        """
        if not keep:
            return

        def _delete() -> None:
            with self.session() as client:
                if not client.collection_exists(collection):
                    return  # nothing was ever written for this model
                found = self._document_points(client, collection, set(keep))
                self._delete_ids(client, collection, [
                    point_id for point_id, document_id in found
                    if point_id not in keep[document_id]])

        self._retry("delete", _delete)

    def _document_points(self, client: QdrantClient, collection: str,
                         documents: set[str]) -> list[tuple[str, str]]:
        """(point id, document id) of every point of the given documents."""
        if self.is_local and len(documents) > _LOCAL_FILTER_DOCUMENTS:
            # Local mode has no payload index: a document filter costs a comparison with
            # every listed document per point (18 s for 344 documents of 23k points), where
            # listing every point takes about 1 s.
            return [(point_id, payload["document_id"])
                    for point_id, payload in self._scroll(client, collection, None)
                    if payload.get("document_id") in documents]
        ordered = sorted(documents)
        return [(point_id, payload["document_id"]) for start in range(0, len(ordered), 1000)
                for point_id, payload in self._scroll(client, collection, models.Filter(must=[
                    models.FieldCondition(key="document_id", match=models.MatchAny(
                        any=ordered[start : start + 1000]))]))]

    def _shard_points(self, client: QdrantClient, collection: str,
                      shards: set[str]) -> list[tuple[str, str]]:
        """(point id, shard) of every point of the given shards."""
        if self.is_local:
            # Local mode has no payload index: each shard filter goes through every point
            # (17 s for the 16 shards of 24k points, against about 1 s to list them once).
            return [(point_id, payload["shard"])
                    for point_id, payload in self._scroll(client, collection, None)
                    if payload.get("shard") in shards]
        return [(point_id, shard) for shard in sorted(shards)
                for point_id, _ in self._scroll(client, collection, models.Filter(must=[
                    models.FieldCondition(key="shard", match=models.MatchValue(value=shard))]))]

    @staticmethod
    def _scroll(client: QdrantClient, collection: str,
                where: models.Filter | None) -> Iterator[tuple[str, dict]]:
        """(id, document_id and shard payload) of every point matching `where`."""
        offset: models.ExtendedPointId | None = None
        while True:
            points, offset = client.scroll(collection, scroll_filter=where, limit=_SCROLL_PAGE,
                                           offset=offset, with_vectors=False,
                                           with_payload=["document_id", "shard"])
            for point in points:
                yield str(point.id), dict(point.payload or {})
            if offset is None:
                return

    @staticmethod
    def _delete_ids(client: QdrantClient, collection: str, point_ids: list[str]) -> None:
        for lo in range(0, len(point_ids), _UPSERT_BATCH):
            client.delete(collection, points_selector=models.PointIdsList(
                points=list(point_ids[lo : lo + _UPSERT_BATCH])), wait=True)

    def delete_shard_leftovers(self, collection: str, keep: dict[str, set[str]]) -> None:
        """Per shard, delete every point whose id is not in the shard's current chunk set."""
        def _delete() -> None:
            with self.session() as client:
                if not client.collection_exists(collection):
                    return  # nothing was ever written for this model
                self._delete_ids(client, collection, [
                    point_id for point_id, shard in self._shard_points(client, collection,
                                                                       set(keep))
                    if point_id not in keep[shard]])

        self._retry("delete", _delete)

    # -- reads ---------------------------------------------------------------------------------

    def count(self, collection: str | None = None) -> int | None:
        """Exact point count of a collection (default: the live one), None if it does not exist."""
        with self.session() as client:
            name = collection or self.live_collection(client)
            if name is None or not client.collection_exists(name):
                return None
            return int(client.count(name, exact=True).count)

    def query(self, vector: np.ndarray, limit: int,
              collection: str | None = None) -> list[models.ScoredPoint]:
        """Nearest points in `collection` (default: the live one, through the alias)."""
        with self.session() as client:
            if collection is None and self.live_collection(client) is None:
                raise LookupError("the Qdrant index does not exist yet")
            return client.query_points(
                collection or self.alias, query=vector.tolist(), limit=limit, with_payload=True
            ).points
