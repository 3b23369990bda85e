"""The local Qdrant store: one client at a time, held briefly, and never for a whole bulk write."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from filelock import Timeout

from rag_pipeline.edge_store import EdgeStore
from rag_pipeline.qdrant_store import QdrantStore
from rag_pipeline.sparse_bm25 import SparseVector


def sparse(n: int) -> list[SparseVector]:
    return [SparseVector([i % 7, 100 + i % 3], [1.0, 0.5]) for i in range(n)]


def points(n: int, dimension: int = 4) -> tuple[list[str], np.ndarray, list[dict],
                                                list[SparseVector]]:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    vectors = np.random.default_rng(0).random((n, dimension), dtype=np.float32)
    return ids, vectors, [{"document_id": f"d{i}", "shard": "00"} for i in range(n)], sparse(n)


def open_store(engine: str, path: Path, **options: float) -> QdrantStore | EdgeStore:
    if engine == "edge":
        return EdgeStore(path=path, **options)
    return QdrantStore(path=path, **options)


ENGINES = pytest.mark.parametrize("engine", ["edge", "local-mode"])


@ENGINES
def test_a_held_store_shuts_other_clients_out(tmp_path: Path, engine: str) -> None:
    store = open_store(engine, tmp_path / "q")
    other = open_store(engine, tmp_path / "q", lock_timeout_seconds=0.5)
    with store.holding():
        assert other.count("c") is None  # not opened until a call needs it
        store.ensure_collection("c", 4)
        with pytest.raises(Timeout):
            other.count("c")
    assert other.count("c") == 0  # released on exit


def test_a_bulk_upsert_inside_holding_lets_searches_in_between_sessions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = QdrantStore(path=tmp_path / "q")
    store.points_per_session = 100
    other = QdrantStore(path=tmp_path / "q", lock_timeout_seconds=0.5)
    seen: list[int | str | None] = []
    real_retry = QdrantStore._retry

    def retry_then_look(self: QdrantStore, action: str, fn: Callable[[], object]) -> object:
        result = real_retry(self, action, fn)
        if self is store and action == "upsert":
            try:
                seen.append(other.count("c"))  # times out while the writer keeps the lock
            except Timeout:
                seen.append("locked")
        return result

    monkeypatch.setattr(QdrantStore, "_retry", retry_then_look)
    with store.holding():
        store.ensure_collection("c", 4)
        store.upsert("c", *points(350))
        assert store.count("c") == 350
    # Released between sessions; the last one's client is the hold (not loaded again).
    assert seen == [100, 200, 300, "locked"]
    assert other.count("c") == 350


def test_a_settled_store_is_in_the_state_it_will_have_once_closed(tmp_path: Path) -> None:
    """Checks run on a store held open record the files' signature: `state` must leave
    nothing for the close to write."""
    from rag_pipeline.verified_state import files_signature

    def signature() -> list[tuple[str, int, int]]:
        return [f for f in files_signature([tmp_path / "q"])
                if not f[0].endswith(("-wal", "-shm"))]

    store = QdrantStore(path=tmp_path / "q")
    store.ensure_collection("c", 4)
    with store.holding():
        store.upsert("c", *points(300))
        unsettled = signature()
        state = store.state()
        settled = signature()
        assert store.count("c") == 300
    assert settled != unsettled  # the writes were still in the WAL file
    assert signature() == settled and store.state() == state


def test_local_collections_are_written_through_a_wal_journal_and_reload_intact(
        tmp_path: Path) -> None:
    import sqlite3

    store = QdrantStore(path=tmp_path / "q")
    store.ensure_collection("c", 4)
    ids, vectors, payloads, sparse_vectors = points(300)
    store.upsert("c", ids, vectors, payloads, sparse_vectors)
    files = list((tmp_path / "q").rglob("storage.sqlite"))
    assert len(files) == 1
    with sqlite3.connect(files[0]) as connection:  # WAL is a property of the file itself
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert QdrantStore(path=tmp_path / "q").count("c") == 300
    with store.session() as client:
        stored = client.retrieve("c", ids[:3], with_vectors=True)
    by_id = {p.id: p for p in stored}
    for i in range(3):
        stored_vectors = by_id[ids[i]].vector
        assert isinstance(stored_vectors, dict)
        assert np.allclose(stored_vectors["dense"], vectors[i], atol=1e-6)
        assert stored_vectors["bm25"].indices == sparse_vectors[i].indices
        assert by_id[ids[i]].payload == payloads[i]


def test_edge_collections_are_memory_mapped_and_reload_intact(tmp_path: Path) -> None:
    """An open must not read a collection into the process (benchmarks/probe_edge_placement):
    every part is created memory-mapped, and a new process' store finds every point."""
    import json

    store = EdgeStore(path=tmp_path / "e")
    store.ensure_collection("c", 4)
    ids, vectors, payloads, sparse_vectors = points(300)
    store.upsert("c", ids, vectors, payloads, sparse_vectors)
    config = json.loads((tmp_path / "e" / "collections" / "c" / "edge_config.json").read_text())
    placements = [config["vectors"]["dense"]["memory"], config["sparse_vectors"]["bm25"]["memory"],
                  config["hnsw_config"]["memory"], config["payload_memory"],
                  config["id_tracker_memory"]]
    assert placements == ["cold"] * 5
    reopened = EdgeStore(path=tmp_path / "e")
    assert reopened.count("c") == 300
    assert reopened.payloads("c", ids[:3]) == {ids[i]: payloads[i] for i in range(3)}
    nearest = reopened.query(vectors[7], 1, "c", exact=True)
    assert nearest[0].id == ids[7]


def test_payload_indexes_are_memory_mapped_and_a_collections_old_ones_rebuilt(
        tmp_path: Path) -> None:
    """Edge builds a payload index it holds in RAM again on every open (most of a searcher's
    open at a million points): they are created memory-mapped, and the next run's
    `ensure_collection` rebuilds those a collection was created with before, filters intact."""
    from qdrant_edge import EdgeShard, PayloadSchemaType, UpdateOperation

    from rag_pipeline.filters import SearchFilter
    from rag_pipeline.ports import INDEXED_FIELDS, INTEGER_FIELDS

    def placements() -> dict[str, object]:
        shard = EdgeShard.load(str(tmp_path / "e" / "collections" / "c"))
        schema = shard.info().payload_schema
        shard.close()
        return {f: str(i.params.memory) if i.params else None for f, i in schema.items()}

    fields = (*INDEXED_FIELDS, *INTEGER_FIELDS)
    store = EdgeStore(path=tmp_path / "e")
    store.ensure_collection("c", 4)
    ids, vectors, _, sparse_vectors = points(200)
    payloads = [{"document_id": f"d{i}", "shard": "00", "type": ("pdf", "md")[i % 2],
                 "folders": [f"area{i % 5}/"], "modified_at": 1_700_000_000 + i}
                for i in range(200)]
    store.upsert("c", ids, vectors, payloads, sparse_vectors)
    assert placements() == dict.fromkeys(fields, "Memory.Cold")
    where = SearchFilter(types=("pdf",), folders=("area2/",))
    expected = [h.id for h in store.query(vectors[0], 10, "c", where=where, exact=True)]
    assert len(expected) == 10

    with store.session() as shards:  # the payload indexes as an earlier release created them
        shard = shards.get("c")
        for field_name in fields:
            shard.update(UpdateOperation.delete_field_index(field_name))
            shard.update(UpdateOperation.create_field_index(
                field_name, PayloadSchemaType.Integer if field_name in INTEGER_FIELDS
                else PayloadSchemaType.Keyword))
        shard.flush()
    assert placements() == dict.fromkeys(fields, None)

    EdgeStore(path=tmp_path / "e").ensure_collection("c", 4)  # the next run
    assert placements() == dict.fromkeys(fields, "Memory.Cold")
    reopened = EdgeStore(path=tmp_path / "e")
    assert [h.id for h in reopened.query(vectors[0], 10, "c", where=where, exact=True)] == expected
    assert reopened.count("c") == 200


@ENGINES
@pytest.mark.parametrize("num_documents", [5, 40])  # a document filter; listing every point
def test_delete_stale_removes_exactly_the_points_outside_each_documents_chunk_set(
        tmp_path: Path, num_documents: int, engine: str) -> None:
    store = open_store(engine, tmp_path / "q")
    store.ensure_collection("c", 4)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(3 * num_documents + 3)]
    owners = [f"d{i // 3}" for i in range(len(ids))]  # three points per document
    vectors = np.random.default_rng(0).random((len(ids), 4), dtype=np.float32)
    store.upsert("c", ids, vectors, [{"document_id": d, "shard": "00"} for d in owners],
                 sparse(len(ids)))
    untouched = f"d{num_documents}"  # not in keep: its points stay whatever they are
    keep = {f"d{d}": {ids[3 * d], ids[3 * d + 1]} for d in range(num_documents)}
    keep["d0"] = set()  # a deleted document loses all its points
    store.delete_stale("c", keep)
    remaining = store.point_documents("c")
    expected = {i: d for i, d in zip(ids, owners, strict=True)
                if d == untouched or i in keep.get(d, set())}
    assert remaining == expected
    assert sum(d == untouched for d in remaining.values()) == 3


@ENGINES
def test_delete_shard_leftovers_keeps_each_listed_shards_chunk_set_and_other_shards(
        tmp_path: Path, engine: str) -> None:
    store = open_store(engine, tmp_path / "q")
    store.ensure_collection("c", 4)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(12)]
    shards = [f"0{i % 3}" for i in range(len(ids))]  # shards 00, 01, 02: four points each
    vectors = np.random.default_rng(0).random((len(ids), 4), dtype=np.float32)
    store.upsert("c", ids, vectors, [{"document_id": f"d{i}", "shard": s}
                                     for i, s in enumerate(shards)], sparse(len(ids)))
    keep = {"00": {ids[0], ids[3]}, "01": set()}  # shard 02 not listed: left alone
    store.delete_shard_leftovers("c", keep)
    assert set(store.point_documents("c")) == {ids[0], ids[3]} | {
        i for i, s in zip(ids, shards, strict=True) if s == "02"}


@ENGINES
def test_the_alias_moves_atomically_and_readers_follow_it(tmp_path: Path, engine: str) -> None:
    store = open_store(engine, tmp_path / "q")
    ids, vectors, payloads, sparse_vectors = points(20)
    for name in ("a", "b"):
        store.ensure_collection(name, 4)
    store.upsert("a", ids[:10], vectors[:10], payloads[:10], sparse_vectors[:10])
    store.upsert("b", ids[10:], vectors[10:], payloads[10:], sparse_vectors[10:])
    assert store.live() is None and store.point_alias("a") is None
    assert {h.id for h in store.query(vectors[0], 20)} == set(ids[:10])
    assert store.point_alias("b") == "a" and store.live() == "b"
    assert {h.id for h in store.query(vectors[0], 20)} == set(ids[10:])
    assert store.query_hybrid(vectors[12], sparse_vectors[12], 1, 10, 60)[0].id == ids[12]
    assert store.dimension("b") == 4 and store.count() == 10
    store.drop_collection("a")
    assert store.collections() == ["b"]
    with pytest.raises(LookupError):
        store.point_alias("a")
    assert open_store(engine, tmp_path / "q").live() == "b"  # a new opener sees it too
