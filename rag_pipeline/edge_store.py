"""The embedded vector index on Qdrant Edge: Qdrant's own engine in the process.

Unlike qdrant-client's local mode (a test mode: brute force, every open loads every point),
Edge keeps Qdrant's segments, HNSW graphs, sparse index with the IDF modifier and payload
indexes on disk, and answers the Query API (prefetches fused by RRF) in-process. One Edge shard
is one collection, in its own folder under `collections/`; the alias is a small JSON file moved
into place atomically. A shard admits one opener at a time (its write-ahead log is locked), so
the store is opened through `HeldStore` like local mode, but an open costs milliseconds.

Edge runs no optimizer on its own: a write ends with `optimize()` (segments merged, HNSW built
for what changed), so readers open an indexed shard and reopening stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    HnswIndexConfig,
    IntegerIndexParams,
    KeywordIndexParams,
    MatchAny,
    MatchValue,
    Memory,
    Modifier,
    Point,
    Prefetch,
    Query,
    QueryRequest,
    RangeFloat,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)
from qdrant_edge import SparseVector as EdgeSparseVector

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

logger = logging.getLogger(__name__)

_UPSERT_BATCH = 256
_SCROLL_PAGE = 4096
_ALIASES = "aliases.json"
HNSW_EF = 512
"""Candidates the HNSW search keeps (Qdrant's default is lower): the recall@10 against exact
search that `benchmarks/bench_scale.py` measures at 1M chunks needs more than 256, whose recall
varied from one build of the graph to the next (README, "The index at scale")."""
_WRITES = "writes"
HNSW_M = 16
HNSW_EF_CONSTRUCT = 100
HNSW_FULL_SCAN_THRESHOLD = 10_000
"""Qdrant's defaults for the graph, written out because a placement cannot be set without them."""
_PLACEMENT = Memory.Cold
"""Every part of a collection is memory-mapped, not read into the process on open (Edge's
default for vectors, graph and sparse index): a searcher's open then costs what the operating
system has not cached yet, instead of a read of the whole collection, and its resident memory
stays small; pages a query touches stay in the page cache for the next process.
`benchmarks/bench_scale.py` measures open, cold search and memory."""


def _payload_index_params(field_name: str) -> KeywordIndexParams | IntegerIndexParams:
    """A payload index, memory-mapped too: Edge's default builds each one in RAM on every
    open, which at a million points made most of a searcher's open time."""
    if field_name in INTEGER_FIELDS:
        return IntegerIndexParams(lookup=True, range=True, memory=_PLACEMENT)
    return KeywordIndexParams(memory=_PLACEMENT)


def _map_payload_indexes(shard: EdgeShard) -> list[str]:
    """Give the shard every payload index, memory-mapped; an index a collection was created
    with before (in RAM) is built again. Returns the fields (re)indexed."""
    schema = shard.info().payload_schema
    stale = [f for f in (*INDEXED_FIELDS, *INTEGER_FIELDS)
             if f not in schema or schema[f].params is None
             or schema[f].params.memory != _PLACEMENT]
    for field_name in stale:
        if field_name in schema:
            shard.update(UpdateOperation.delete_field_index(field_name))
        shard.update(UpdateOperation.create_field_index(field_name,
                                                        _payload_index_params(field_name)))
    return stale


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part (write, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class _Shards:
    """The open Edge shards of one session, opened on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.open: dict[str, EdgeShard] = {}

    def folder(self, name: str) -> Path:
        return self.root / "collections" / name

    def exists(self, name: str) -> bool:
        return (self.folder(name) / "edge_config.json").exists()

    def get(self, name: str) -> EdgeShard:
        shard = self.open.get(name)
        if shard is None:
            if not self.exists(name):
                raise LookupError(f"collection {name} does not exist")
            shard = self.open[name] = EdgeShard.load(str(self.folder(name)))
        return shard

    def forget(self, name: str) -> None:
        shard = self.open.pop(name, None)
        if shard is not None:
            shard.close()

    def close(self) -> None:
        for name in list(self.open):
            self.forget(name)


class EdgeStore(HeldStore[_Shards]):
    def __init__(self, *, path: Path, alias: str = "chunks",
                 lock_timeout_seconds: float = 600, hnsw_ef: int = HNSW_EF) -> None:
        super().__init__(path, lock_timeout_seconds)
        self.alias = alias
        self.hnsw_ef = hnsw_ef

    @property
    def is_local(self) -> bool:
        return True

    def run_session(self) -> AbstractContextManager[None]:
        """Nothing held across a whole run, so searches interleave with it: a step holds the
        shard for a group of calls (its writes, its checks), since each open costs tens of
        milliseconds (more with the collection's size)."""
        return nullcontext()

    def describe(self) -> str:
        return f"edge:{self.path}"

    def _open(self) -> _Shards:
        return _Shards(self.path)

    def _close(self, handle: _Shards) -> None:
        handle.close()

    def state(self) -> object:
        """The store's write counter: Edge rewrites its files' times on every open and close,
        so they cannot tell a write from a read; every write through this adapter bumps it."""
        path = self.path / _WRITES
        return path.read_text() if path.exists() else "never written"

    def _wrote(self) -> None:
        """Called inside a session after any write (the lock is held)."""
        path = self.path / _WRITES
        count = int(path.read_text().split()[1]) if path.exists() else 0
        _write_atomically(path, f"{uuid.uuid4()} {count + 1}")

    # -- collections ---------------------------------------------------------------------------

    def collection_name(self, spec: EmbeddingModelSpec) -> str:
        return f"{self.alias}__{spec.slug}__{spec.fingerprint}__{SCHEMA_VERSION}"

    def _aliases(self) -> dict[str, str]:
        path = self.path / _ALIASES
        return json.loads(path.read_text()) if path.exists() else {}

    def live(self) -> str | None:
        with self.session():
            return self._aliases().get(self.alias)

    def _resolve(self, collection: str | None) -> str:
        name = collection or self._aliases().get(self.alias)
        if name is None:
            raise LookupError("the Qdrant index does not exist yet")
        return name

    def collections(self) -> list[str]:
        with self.session() as shards:
            folder = self.path / "collections"
            return sorted(p.name for p in folder.iterdir()
                          if shards.exists(p.name)) if folder.exists() else []

    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create the collection; an existing one gets what later releases index (its payload
        indexes memory-mapped), once."""
        with self.session() as shards:
            if shards.exists(name):
                upgraded = _map_payload_indexes(shards.get(name))
                if upgraded:
                    shards.get(name).flush()
                    self._wrote()
                    logger.info("collection %s: payload indexes memory-mapped (%s)", name,
                                ", ".join(upgraded))
                return
            folder = shards.folder(name)
            shutil.rmtree(folder, ignore_errors=True)  # a creation that died half-way
            shard = EdgeShard.create(str(folder), EdgeConfig(
                vectors={DENSE_VECTOR: EdgeVectorParams(size=dimension,
                                                        distance=Distance.Cosine,
                                                        memory=_PLACEMENT)},
                sparse_vectors={SPARSE_VECTOR: EdgeSparseVectorParams(modifier=Modifier.Idf,
                                                                      memory=_PLACEMENT)},
                hnsw_config=HnswIndexConfig(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT,
                                            full_scan_threshold=HNSW_FULL_SCAN_THRESHOLD,
                                            memory=_PLACEMENT),
                payload_memory=_PLACEMENT, id_tracker_memory=_PLACEMENT,
            ))
            shards.open[name] = shard
            _map_payload_indexes(shard)
            shard.flush()
            self._wrote()
            logger.info("created Qdrant Edge collection %s (dim %d)", name, dimension)

    def point_alias(self, name: str) -> str | None:
        with self.session() as shards:
            if not shards.exists(name):
                raise LookupError(f"collection {name} does not exist")
            aliases = self._aliases()
            previous = aliases.get(self.alias)
            aliases[self.alias] = name
            _write_atomically(self.path / _ALIASES, json.dumps(aliases))
            self._wrote()
            return previous

    def drop_collection(self, name: str) -> None:
        with self.session() as shards:
            shards.forget(name)
            shutil.rmtree(shards.folder(name), ignore_errors=True)
            self._wrote()

    # -- writes --------------------------------------------------------------------------------

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, object]],
               sparse: Sequence[SparseVector] | None = None, optimize: bool = True) -> None:
        """Write points, then build the index for them (`optimize=False`: later, by
        `optimize`, for a bulk load in several calls)."""
        if sparse is None:
            raise ValueError(f"{collection} needs the points' sparse BM25 vectors")

        def write(lo: int, hi: int, last: bool) -> None:
            with self.session() as shards:
                shard = shards.get(collection)
                for start in range(lo, hi, _UPSERT_BATCH):
                    end = min(start + _UPSERT_BATCH, hi)
                    dense = vectors[start:end].tolist()
                    shard.update(UpdateOperation.upsert_points([
                        Point(ids[i], {DENSE_VECTOR: dense[i - start],
                                       SPARSE_VECTOR: EdgeSparseVector(sparse[i].indices,
                                                                       sparse[i].values)},
                              dict(payloads[i]))
                        for i in range(start, end)]))
                if last and optimize:
                    shard.optimize()
                shard.flush()
                self._wrote()

        self.in_sessions(len(ids), write)

    def optimize(self, collection: str) -> None:
        with self.session() as shards:
            shard = shards.get(collection)
            shard.optimize()
            shard.flush()
            self._wrote()

    def _points(self, shard: EdgeShard, where: Filter | None,
                fields: list[str]) -> Iterator[tuple[str, dict]]:
        offset = None
        while True:
            records, offset = shard.scroll(ScrollRequest(offset=offset, limit=_SCROLL_PAGE,
                                                         filter=where,
                                                         with_payload=fields or False,
                                                         with_vector=False))
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def _delete(self, shard: EdgeShard, point_ids: list[str]) -> None:
        for lo in range(0, len(point_ids), _UPSERT_BATCH):
            shard.update(UpdateOperation.delete_points(list(point_ids[lo : lo + _UPSERT_BATCH])))
        if point_ids:
            shard.optimize()  # vacuum: deleted points would count in IDF until then
            shard.flush()
            self._wrote()

    def delete_stale(self, collection: str, keep: dict[str, set[str]]) -> None:
        if not keep:
            return
        with self.session() as shards:
            if not shards.exists(collection):
                return
            shard = shards.get(collection)
            ordered = sorted(keep)
            stale = [point_id for start in range(0, len(ordered), 1000)
                     for point_id, payload in self._points(shard, Filter(must=[FieldCondition(
                         key="document_id", match=MatchAny(any=ordered[start : start + 1000]))]),
                         ["document_id"])
                     if point_id not in keep[str(payload["document_id"])]]
            self._delete(shard, stale)

    def delete_shard_leftovers(self, collection: str, keep: dict[str, set[str]]) -> None:
        with self.session() as shards:
            if not shards.exists(collection):
                return
            shard = shards.get(collection)
            self._delete(shard, [
                point_id for name in sorted(keep)
                for point_id, _ in self._points(shard, Filter(must=[FieldCondition(
                    key="shard", match=MatchValue(value=name))]), [])
                if point_id not in keep[name]])

    # -- reads ---------------------------------------------------------------------------------

    def count(self, collection: str | None = None) -> int | None:
        with self.session() as shards:
            name = collection or self._aliases().get(self.alias)
            if name is None or not shards.exists(name):
                return None
            return int(shards.get(name).count(CountRequest(exact=True)))

    def dimension(self, collection: str) -> int | None:
        with self.session() as shards:
            if not shards.exists(collection):
                return None
            config = json.loads((shards.folder(collection) / "edge_config.json").read_text())
            return int(config["vectors"][DENSE_VECTOR]["size"])

    def point_documents(self, collection: str) -> dict[str, str]:
        with self.session() as shards:
            if not shards.exists(collection):
                return {}
            return {point_id: str(payload.get("document_id")) for point_id, payload
                    in self._points(shards.get(collection), None, ["document_id"])}

    def payloads(self, collection: str, ids: Sequence[str]) -> dict[str, dict]:
        with self.session() as shards:
            if not ids or not shards.exists(collection):
                return {}
            return {str(r.id): dict(r.payload or {}) for r in shards.get(collection).retrieve(
                list(ids), with_payload=True, with_vector=False)}

    def _query(self, collection: str | None, request: QueryRequest) -> list[Hit]:
        with self.session() as shards:
            shard = shards.get(self._resolve(collection))
            return [Hit(str(p.id), float(p.score), dict(p.payload or {}))
                    for p in shard.query(request)]

    def query(self, vector: np.ndarray, limit: int, collection: str | None = None,
              where: SearchFilter | None = None, exact: bool = False) -> list[Hit]:
        """Nearest points (`exact`: by a full scan instead of the HNSW graph)."""
        return self._query(collection, QueryRequest(
            limit=limit, query=Query.Nearest(vector.tolist(), using=DENSE_VECTOR),
            filter=_filter(where), with_payload=True,
            params=SearchParams(exact=True) if exact else self._params()))

    def _params(self) -> SearchParams:
        return SearchParams(hnsw_ef=max(self.hnsw_ef, 0) or None)

    def query_sparse(self, vector: SparseVector, limit: int, collection: str | None = None,
                     where: SearchFilter | None = None) -> list[Hit]:
        return self._query(collection, QueryRequest(
            limit=limit, query=Query.Nearest(_sparse(vector), using=SPARSE_VECTOR),
            filter=_filter(where), with_payload=True))

    def query_hybrid(self, dense: np.ndarray, sparse: SparseVector, limit: int,
                     candidates: int, rrf_k: int, collection: str | None = None,
                     where: SearchFilter | None = None) -> list[Hit]:
        condition = _filter(where)
        return self._query(collection, QueryRequest(
            limit=limit,
            prefetches=[
                Prefetch(limit=candidates,
                         query=Query.Nearest(dense.tolist(), using=DENSE_VECTOR),
                         params=self._params(), filter=condition),
                Prefetch(limit=candidates,
                         query=Query.Nearest(_sparse(sparse), using=SPARSE_VECTOR),
                         filter=condition),
            ],
            query=Fusion.Rrf(k=qdrant_rrf_k(rrf_k)),
            filter=condition,
            with_payload=True,
        ))


def _filter(where: SearchFilter | None) -> Filter | None:
    if not where:
        return None
    conditions: list[FieldCondition] = [
        FieldCondition(name, match=MatchAny(values)) for name, values in where.keyword_conditions()]
    if where.modified_since is not None:
        conditions.append(FieldCondition(MODIFIED_FIELD,
                                         range=RangeFloat(gte=float(where.modified_since))))
    return Filter(must=conditions)


def _sparse(vector: SparseVector) -> EdgeSparseVector:
    return EdgeSparseVector(vector.indices, vector.values)
