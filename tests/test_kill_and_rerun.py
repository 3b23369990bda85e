"""SIGKILL in the middle of embedding and in the middle of the index writes, then re-run:
the index converges to exactly what a clean run produces."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline.ledger import Ledger
from rag_pipeline.pipeline.embeddings import _PROGRESS_SLICE
from rag_pipeline.pipeline.lineage import EMBEDDED
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import Settings
from tests.fixtures import write_text
from tests.host_speed import budget
from tests.test_pipeline import index_sizes, qdrant_ids

pytestmark = pytest.mark.slow
WORDS = ("river mountain copper lantern harbour meadow glacier orchard violin engine compass "
         "falcon granite saddle cellar thunder velvet beacon canyon ember willow marble "
         "quarry pepper tide prairie anchor fossil kettle mirror nectar puzzle rocket sierra "
         "timber vessel walnut yeast zephyr basalt candle dune ferry garnet hollow island").split()


def write_corpus(folder: Path, documents: int = 48, paragraphs: int = 10) -> None:
    """About 7 chunks per document: more than one 256-text embedding slice in all, and a
    second slice long enough to still be embedding when the first one is cached."""
    rng = random.Random(11)
    for i in range(documents):
        body = "\n\n".join(
            f"Paragraph {j} of report {i}. " + " ".join(
                f"The {rng.choice(WORDS)} near the {rng.choice(WORDS)} was {rng.choice(WORDS)}."
                for _ in range(12))
            for j in range(paragraphs))
        write_text(folder / f"report{i:02d}.md", f"# Report {i}\n\n{body}\n")


def cached_vectors(settings: Settings) -> int:
    """Chunk vectors in the cache (not the drift canary's probe vectors)."""
    if not settings.embedding_cache_path.exists():
        return 0
    try:
        with sqlite3.connect(settings.embedding_cache_path, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM vectors WHERE fingerprint NOT LIKE "
                                  "'drift-probes:%'").fetchone()[0])
    except sqlite3.Error:
        return 0


def embedded_stage_written(settings: Settings, since: float) -> bool:
    folder = settings.staging_dir / EMBEDDED
    return folder.exists() and any(p.stat().st_mtime >= since for p in folder.glob("*.pkl"))


def kill_ingest_when(settings: Settings, ready: Callable[[float], bool], delay: float) -> None:
    env = {**os.environ, "RAG_SOURCE_DIR": str(settings.source_dir),
           "RAG_DATA_DIR": str(settings.data_dir)}
    env.pop("DAGSTER_HOME", None)
    started = time.time()
    process = subprocess.Popen([str(Path(sys.executable).parent / "rag-pipeline"), "ingest"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + budget(300)
        while not ready(started):
            if process.poll() is not None:
                pytest.fail(f"the run ended before the kill point: {process.stderr.read()!r}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point was not reached in time")
            time.sleep(0.05)
        time.sleep(delay)
        assert process.poll() is None, "the run finished before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the run and its extraction workers
        process.wait(timeout=budget(30))


def test_sigkill_mid_embedding_and_mid_upsert_then_rerun_converges(settings: Settings) -> None:
    settings = replace(settings, golden_set=None)
    write_corpus(settings.source_dir)

    # 1. Killed after the first slice of vectors was cached, while the next one is computed.
    kill_ingest_when(settings, lambda _: cached_vectors(settings) > 0, delay=0.5)
    killed_cache = cached_vectors(settings)
    assert Ledger(settings.ledger_path).num_chunks() == 0  # nothing was committed

    # 2. Killed just after embedding finished: inside the Qdrant / ledger / BM25 writes.
    kill_ingest_when(settings, lambda since: embedded_stage_written(settings, since), delay=0.3)

    reports = run_ingest(settings)
    assert reports["chunk_embeddings"]["num_chunks_embedded"] == 0  # all paid for before
    points, chunks, bm25 = index_sizes(settings)
    assert chunks > _PROGRESS_SLICE  # so the first kill fell between two slices...
    assert 0 < killed_cache < chunks  # ...and it did

    # What an uninterrupted run makes, in a folder of its own. It gets a copy of the vectors
    # (the same model's, so the same), not to embed them all a third time.
    clean = replace(settings, data_dir=settings.data_dir.parent / "clean")
    clean.data_dir.mkdir(parents=True)
    with sqlite3.connect(settings.embedding_cache_path) as source, sqlite3.connect(
            clean.embedding_cache_path) as copy:
        source.backup(copy)
    run_ingest(clean)
    expected_points, expected_chunks, _ = index_sizes(clean)
    assert points == chunks == bm25 == expected_points == expected_chunks
    ledger_ids = {c.chunk_id for c in PipelineServices(settings).ledger.iter_chunks()}
    assert qdrant_ids(settings) == ledger_ids  # no orphans, no duplicates
    assert ledger_ids == {c.chunk_id for c in PipelineServices(clean).ledger.iter_chunks()}
    assert reports["checks"]["bm25_index_counts_match"][0] is True
    assert reports["checks"]["qdrant_index_no_orphans"][0] is True


def _descendants(pid: int) -> set[int]:
    """The processes below `pid`, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected it


def _command(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()[:120]
    except OSError:
        return b"(gone)"


def test_no_worker_outlives_a_killed_run(settings: Settings) -> None:
    """SIGKILL the run alone (not its process group), mid-embedding with batches still queued:
    its extraction and embedding workers exit within seconds instead of working on."""
    write_corpus(settings.source_dir)
    env = {**os.environ, "RAG_SOURCE_DIR": str(settings.source_dir),
           "RAG_DATA_DIR": str(settings.data_dir)}
    env.pop("DAGSTER_HOME", None)
    process = subprocess.Popen([str(Path(sys.executable).parent / "rag-pipeline"), "ingest"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + budget(300)
        while cached_vectors(settings) == 0:
            assert process.poll() is None, "the run ended before embedding"
            assert time.monotonic() < deadline, "embedding did not start in time"
            time.sleep(0.05)
        workers = _descendants(process.pid)
        assert len(workers) >= 4, workers  # two extraction and two embedding workers at least
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=budget(30))
        deadline = time.monotonic() + budget(15)
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = {pid: _command(pid) for pid in workers if _running(pid)}
        assert not survivors, survivors
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
