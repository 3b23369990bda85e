"""The vector index through qdrant-client: a Qdrant server, or qdrant-client's local mode.

Local mode locks its folder to one client at a time: it is opened through `HeldStore`.
Readers go through an alias (`chunks`) that points to the live collection.

Every collection has the same schema, on a server and in local mode: a named dense vector
(`dense`, cosine) and a sparse vector (`bm25`) with Qdrant's IDF modifier, whose weights make
Qdrant's sparse score the project's BM25 score (`rag_pipeline.sparse_bm25`); payload indexes on
document id, shard and source path. Collections written before this schema (one unnamed vector,
no sparse one) are still read; `SCHEMA_VERSION` is part of a collection's name, so an upgrade
fills a new collection from the embedding cache and moves the alias, as a model change does.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TypeVar

import numpy as np
from qdrant_client import QdrantClient, models

from rag_pipeline.filters import MODIFIED_FIELD, SearchFilter
from rag_pipeline.held_store import HeldStore
from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.ports import (
    INDEXED_FIELDS,
    INTEGER_FIELDS,
    SCHEMA_VERSION,
    Hit,
    qdrant_rrf_k,
)
from rag_pipeline.sparse_bm25 import DENSE_VECTOR, SPARSE_VECTOR, SparseVector
from rag_pipeline.verified_state import files_signature

logger = logging.getLogger(__name__)

T = TypeVar("T")
_UPSERT_BATCH = 256
_SCROLL_PAGE = 16384
_LOCAL_FILTER_DOCUMENTS = 32
"""Local mode: up to this many documents, a filter is cheaper than listing every point."""
_TRANSIENT_FILES = (".lock", "-wal", "-shm", "-journal")
"""Present while a client has the local store open. Writes still in a -wal file reach the main
file when its client closes (changing it), so leaving these out never hides a write."""


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


class QdrantStore(HeldStore[QdrantClient]):
    """The vector index through qdrant-client: a Qdrant server when `url` is set, else
    qdrant-client's local mode (its test mode: brute-force search, every open loads every
    point) under `path`, which stands in for a server in tests."""

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
        super().__init__(path, lock_timeout_seconds)
        self.url = url
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
        self.alias = alias
        self.retries = retries
        self._remote: QdrantClient | None = None
        self._has_sparse: dict[str, bool] = {}

    @property
    def is_local(self) -> bool:
        return self.url is None

    @property
    def needs_lock(self) -> bool:
        return self.is_local

    def describe(self) -> str:
        """Where the points live, for logs and metadata (never the API key)."""
        return self.url if self.url else f"local:{self.path}"

    def _open(self) -> QdrantClient:
        return _open_local(self.path)

    def _close(self, handle: QdrantClient) -> None:
        handle.close()

    def _unlocked(self) -> QdrantClient | None:
        if not self.url:
            return None
        if self._remote is None:
            self._remote = QdrantClient(url=self.url, api_key=self._api_key,
                                        timeout=self.timeout_seconds)
        return self._remote

    def run_session(self) -> AbstractContextManager[None]:
        """Local mode loads every point on each open, so a run opens it once, at its first
        call, and holds it to its end (searches wait, as during any local-mode write); a server
        needs nothing."""
        return self.holding() if self.is_local else nullcontext()

    def close(self) -> None:
        super().close()
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    def state(self) -> object | None:
        """Local mode: its files by name, size and modification time, once those of a client
        held open are final (`settle_local_writes`); None on a server."""
        if not self.is_local:
            return None
        held = self.held_handle()
        if held is not None:
            settle_local_writes(held)
        return [f for f in files_signature([self.path]) if not f[0].endswith(_TRANSIENT_FILES)]

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
        """One collection per embedding fingerprint and schema:
        chunks__<model>__<fingerprint>__<schema>."""
        return f"{self.alias}__{spec.slug}__{spec.fingerprint}__{SCHEMA_VERSION}"

    def has_sparse(self, client: QdrantClient, collection: str) -> bool:
        """Whether `collection` (a name or the alias) has the current schema: named vectors."""
        if collection == self.alias:
            collection = self.live_collection(client) or collection
        if collection not in self._has_sparse:
            vectors = client.get_collection(collection).config.params.vectors
            self._has_sparse[collection] = isinstance(vectors, dict) and DENSE_VECTOR in vectors
        return self._has_sparse[collection]

    def live_collection(self, client: QdrantClient) -> str | None:
        for alias in client.get_aliases().aliases:
            if alias.alias_name == self.alias:
                return alias.collection_name
        return None

    def live(self) -> str | None:
        """The collection the alias points to (what readers see), None before the first one."""
        def _live() -> str | None:
            with self.session() as client:
                return self.live_collection(client)

        return self._retry("alias lookup", _live)

    def ensure_collection(self, name: str, dimension: int) -> None:
        def _ensure() -> None:
            with self.session() as client:
                if client.collection_exists(name):
                    return
                client.create_collection(
                    name,
                    vectors_config={DENSE_VECTOR: models.VectorParams(
                        size=dimension, distance=models.Distance.COSINE)},
                    sparse_vectors_config={SPARSE_VECTOR: models.SparseVectorParams(
                        modifier=models.Modifier.IDF)},
                )
                if self.is_local:
                    speed_up_local_writes(client)  # the new collection's file
                else:  # local mode ignores payload indexes (and warns)
                    for field_name in INDEXED_FIELDS:
                        client.create_payload_index(name, field_name,
                                                    models.PayloadSchemaType.KEYWORD)
                    for field_name in INTEGER_FIELDS:
                        client.create_payload_index(name, field_name,
                                                    models.PayloadSchemaType.INTEGER)
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
        def _list() -> list[str]:
            with self.session() as client:
                return sorted(c.name for c in client.get_collections().collections)

        return self._retry("list collections", _list)

    def drop_collection(self, name: str) -> None:
        with self.session() as client:
            client.delete_collection(name)
        self._has_sparse.pop(name, None)

    # -- writes --------------------------------------------------------------------------------

    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict[str, object]],
        sparse: Sequence[SparseVector] | None = None,
    ) -> None:
        """Write points; `sparse` (their BM25 vectors) is required by a current-schema
        collection and ignored by an older one."""
        def _write(lo: int, hi: int) -> None:
            with self.session() as client:
                named = self.has_sparse(client, collection)
                if named and sparse is None:
                    raise ValueError(f"{collection} needs the points' sparse BM25 vectors")
                for start in range(lo, hi, _UPSERT_BATCH):
                    end = min(start + _UPSERT_BATCH, hi)
                    dense = vectors[start:end].tolist()
                    batch_vectors: models.BatchVectorStruct = dense
                    if named and sparse is not None:
                        batch_vectors = {
                            DENSE_VECTOR: dense,
                            SPARSE_VECTOR: [models.SparseVector(indices=s.indices,
                                                                values=s.values)
                                            for s in sparse[start:end]],
                        }
                    client.upsert(
                        collection,
                        points=models.Batch(ids=list(ids[start:end]), vectors=batch_vectors,
                                            payloads=list(payloads[start:end])),
                        wait=True,
                    )

        self.in_sessions(len(ids), lambda lo, hi, _last: self._retry(
            "upsert", lambda: _write(lo, hi)))

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

    def dimension(self, collection: str) -> int | None:
        """The dense vectors' size in `collection`, None if it does not exist."""
        with self.session() as client:
            if not client.collection_exists(collection):
                return None
            vectors = client.get_collection(collection).config.params.vectors
            params = vectors.get(DENSE_VECTOR) if isinstance(vectors, dict) else vectors
            return params.size if params is not None else None

    def point_documents(self, collection: str) -> dict[str, str]:
        with self.session() as client:
            if not client.collection_exists(collection):
                return {}
            return {point_id: str(payload.get("document_id"))
                    for point_id, payload in self._scroll(client, collection, None)}

    def payloads(self, collection: str, ids: Sequence[str]) -> dict[str, dict]:
        with self.session() as client:
            if not ids or not client.collection_exists(collection):
                return {}
            return {str(p.id): dict(p.payload or {})
                    for p in client.retrieve(collection, list(ids), with_payload=True)}

    def count(self, collection: str | None = None) -> int | None:
        """Exact point count of a collection (default: the live one), None if it does not exist."""
        with self.session() as client:
            name = collection or self.live_collection(client)
            if name is None or not client.collection_exists(name):
                return None
            return int(client.count(name, exact=True).count)

    def query(self, vector: np.ndarray, limit: int, collection: str | None = None,
              where: SearchFilter | None = None) -> list[Hit]:
        """Nearest points in `collection` (default: the live one, through the alias)."""
        with self.session() as client:
            name = self._readable(client, collection)
            using = DENSE_VECTOR if self.has_sparse(client, name) else None
            return _hits(client.query_points(name, query=vector.tolist(), using=using,
                                             query_filter=_filter(where), limit=limit,
                                             with_payload=True).points)

    def query_sparse(self, vector: SparseVector, limit: int, collection: str | None = None,
                     where: SearchFilter | None = None) -> list[Hit]:
        """Best BM25 points (Qdrant's sparse index); LookupError on an older collection."""
        with self.session() as client:
            name = self._readable(client, collection, sparse=True)
            return _hits(client.query_points(name, query=_sparse(vector), using=SPARSE_VECTOR,
                                             query_filter=_filter(where), limit=limit,
                                             with_payload=True).points)

    def query_hybrid(self, dense: np.ndarray, sparse: SparseVector, limit: int,
                     candidates: int, rrf_k: int, collection: str | None = None,
                     where: SearchFilter | None = None) -> list[Hit]:
        """Dense and BM25 candidates fused by reciprocal rank, in one Query API call; the
        filter applies to both candidate lists (so each keeps `candidates` matching points)."""
        condition = _filter(where)
        with self.session() as client:
            name = self._readable(client, collection, sparse=True)
            return _hits(client.query_points(
                name,
                prefetch=[
                    models.Prefetch(query=dense.tolist(), using=DENSE_VECTOR, limit=candidates,
                                    filter=condition),
                    models.Prefetch(query=_sparse(sparse), using=SPARSE_VECTOR,
                                    limit=candidates, filter=condition),
                ],
                query=models.RrfQuery(rrf=models.Rrf(k=qdrant_rrf_k(rrf_k))),
                query_filter=condition,
                limit=limit,
                with_payload=True,
            ).points)

    def _readable(self, client: QdrantClient, collection: str | None,
                  sparse: bool = False) -> str:
        if collection is None and self.live_collection(client) is None:
            raise LookupError("the Qdrant index does not exist yet")
        name = collection or self.alias
        if sparse and not self.has_sparse(client, name):
            raise LookupError(f"{collection or 'the live collection'} has no sparse BM25 "
                              "vectors (built before them): run a backfill to upgrade it")
        return name


def _filter(where: SearchFilter | None) -> models.Filter | None:
    if not where:
        return None
    conditions: list[models.Condition] = [
        models.FieldCondition(key=name, match=models.MatchAny(any=values))
        for name, values in where.keyword_conditions()]
    if where.modified_since is not None:
        conditions.append(models.FieldCondition(key=MODIFIED_FIELD,
                                                range=models.Range(gte=where.modified_since)))
    return models.Filter(must=conditions)


def _hits(points: list[models.ScoredPoint]) -> list[Hit]:
    return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in points]


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vector.indices, values=vector.values)
