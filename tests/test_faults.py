"""Faults: interrupted runs converge, Qdrant outages fail clearly, concurrent runs are safe."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from dataclasses import replace
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from assets.ingest_run import IngestError, run_ingest
from rag_pipeline.ledger import Ledger
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import QdrantSettings, Settings
from tests.fixtures import write_knowledge_base, write_text
from tests.host_speed import budget
from tests.test_pipeline import index_sizes, qdrant_ids


def test_a_run_that_dies_before_the_ledger_commit_converges(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    write_knowledge_base(settings.source_dir)
    clean = replace(settings, data_dir=settings.data_dir.parent / "clean")
    run_ingest(clean)
    expected = index_sizes(clean)

    def die(self: Ledger, update: object) -> None:
        raise SystemError("killed after the Qdrant write")

    monkeypatch.setattr(Ledger, "apply", die)
    with pytest.raises(IngestError, match="killed after the Qdrant write"):
        run_ingest(settings)
    monkeypatch.undo()
    assert PipelineServices(settings).ledger.num_chunks() == 0  # nothing committed

    # Edit a document too, so the re-run also has stale points from the dead run to remove.
    path = settings.source_dir / "chess.txt"
    path.write_text(path.read_text() + "\nEn passant captures a pawn that moved two squares.\n")
    reports = run_ingest(settings)
    assert reports["chunk_embeddings"]["num_chunks_embedded"] <= 1  # the rest came from cache
    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25
    assert abs(points - expected[0]) <= 1
    ids = {c.chunk_id for c in PipelineServices(settings).ledger.iter_chunks()}
    assert qdrant_ids(settings) == ids  # no orphans, no duplicates


def test_an_unreachable_qdrant_server_fails_the_run_clearly(settings: Settings) -> None:
    write_text(settings.source_dir / "a.md", "# A\n\nSome text.\n")
    secret = "s3cr3t-api-key"
    unreachable = replace(settings, qdrant=QdrantSettings(
        url="http://127.0.0.1:9", api_key=secret, timeout_seconds=2))
    with pytest.raises(IngestError) as raised:
        run_ingest(unreachable)
    message = str(raised.value)
    assert "qdrant_index" in message and "127.0.0.1:9" in message
    assert "after 3 attempts" in message
    assert secret not in message
    assert Ledger(settings.ledger_path).num_chunks() == 0  # ledger untouched


def _open_ledger_stores(path: Path, start: Barrier) -> None:
    from rag_pipeline.collections import CollectionRegistry
    from rag_pipeline.verified_state import VerifiedStates

    start.wait()
    ledger = Ledger(path)  # raises in the child, which then exits with code 1
    CollectionRegistry(path)
    VerifiedStates(path)
    ledger.num_chunks()


def test_two_runs_opening_a_new_ledger_at_once_both_proceed(tmp_path: Path) -> None:
    """Two runs starting on a fresh data folder both create and switch the ledger to WAL at
    the same moment: SQLite's "database is locked" there skips the busy timeout (it failed
    90 times in 100 before `sqlite._use_wal`)."""
    context = multiprocessing.get_context("fork")  # the test's imports, no start-up cost
    for trial in range(20):
        start = context.Barrier(2)
        path = tmp_path / f"ledger-{trial}.sqlite"
        processes = [context.Process(target=_open_ledger_stores, args=(path, start))
                     for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=budget(120))
        assert [p.exitcode for p in processes] == [0, 0], f"trial {trial}"


def test_concurrent_runs_on_different_shards(settings: Settings) -> None:
    for i in range(24):
        write_text(settings.source_dir / f"doc{i:02d}.md",
                   f"# Topic {i}\n\nDocument {i} talks about subject number {i} in detail.\n")
    env = {**os.environ, "RAG_SOURCE_DIR": str(settings.source_dir),
           "RAG_DATA_DIR": str(settings.data_dir)}
    env.pop("DAGSTER_HOME", None)
    cli = str(Path(sys.executable).parent / "rag-pipeline")
    halves = [",".join(f"{i:02d}" for i in range(8)), ",".join(f"{i:02d}" for i in range(8, 16))]
    processes = [subprocess.Popen([cli, "ingest", "--shards", shards], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for shards in halves]
    outputs = [p.communicate(timeout=budget(600)) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    # Each run rebuilds BM25 from the ledger after its own commit, under a lock: whichever
    # rebuild comes last has seen both commits.
    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25 == 24
    assert len(Ledger(settings.ledger_path).documents()) == 24


def test_extraction_workers_that_cannot_start_fail_the_run_and_lose_nothing(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag_pipeline.extract import isolation
    from tests.misbehaving_extractors import failing_init

    write_knowledge_base(settings.source_dir)
    run_ingest(settings)
    before = index_sizes(settings)
    path = settings.source_dir / "chess.txt"
    path.write_text(path.read_text() + "\nCastling moves the king two squares.\n")
    monkeypatch.setattr(isolation, "_init_worker", failing_init)
    broken = replace(settings, extract_memory_mb=1111)  # a pool of its own
    with pytest.raises(IngestError, match="extraction worker processes failed"):
        run_ingest(broken)
    assert index_sizes(settings) == before  # chess.txt was not marked failed, nor emptied
    statuses = {d.source_path: d.status for d in Ledger(settings.ledger_path).documents().values()}
    assert statuses["chess.txt"] == "indexed"
    monkeypatch.undo()
    reports = run_ingest(settings)
    assert reports["extracted_documents"]["num_documents_changed"] == 1
    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25
