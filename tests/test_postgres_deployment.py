"""Dagster and the pipeline both on PostgreSQL, as `deploy/dagster.yaml` sets a deployment up:
two runs on different shards at once (their embedding steps queued on the `rag_embedding`
pool), one of them SIGKILLed mid-way and run again; the index converges."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG

from assets.partitions import EMBEDDING_POOL
from rag_pipeline.ledger import INDEXED
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import PROJECT_ROOT, Settings
from tests.host_speed import budget
from tests.postgres_server import PostgresServer
from tests.test_kill_and_rerun import write_corpus
from tests.test_pipeline import qdrant_ids

pytestmark = pytest.mark.slow
FIRST, SECOND = ("00", "07"), ("08", "15")


def ingest(env: dict[str, str], shards: tuple[str, str]) -> subprocess.Popen[str]:
    command = Path(sys.executable).parent / "rag-pipeline"
    return subprocess.Popen(
        [str(command), "ingest", "--shards", ",".join(shards)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_of(instance: DagsterInstance, first_shard: str,
           statuses: list[DagsterRunStatus]) -> DagsterRun | None:
    runs = instance.get_runs(RunsFilter(tags={ASSET_PARTITION_RANGE_START_TAG: first_shard},
                                        statuses=statuses))
    return runs[0] if runs else None


def embedding_step(instance: DagsterInstance, run_id: str,
                   event: DagsterEventType = DagsterEventType.STEP_START) -> float | None:
    """When the run's embedding step started (it had its pool slot then), or `event`."""
    times = [record.timestamp for record in instance.all_logs(run_id)
             if record.step_key and "chunk_embeddings" in record.step_key
             and record.dagster_event_type == event]
    return min(times) if times else None


def test_two_shard_runs_at_once_and_a_killed_one_rerun_on_postgresql(
        postgres: PostgresServer, tmp_path: Path) -> None:
    suffix = f"{os.getpid()}_{time.monotonic_ns()}"
    dagster_url = postgres.create_database(f"dagster_{suffix}").replace("+psycopg", "+psycopg2")
    state_url = postgres.create_database(f"state_{suffix}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    source, data = tmp_path / "source", tmp_path / "data"
    write_corpus(source, documents=16, paragraphs=4)
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_URL": dagster_url,
           "RAG_DATABASE_URL": state_url, "RAG_SOURCE_DIR": str(source),
           "RAG_DATA_DIR": str(data), "RAG_GOLDEN_SET": str(tmp_path / "none.json"),
           "RAG_EMBEDDING_WORKERS": "1"}
    os.environ["DAGSTER_POSTGRES_URL"] = dagster_url  # for this process's instance
    try:
        instance = DagsterInstance.from_config(str(home))
        # As the deployment's set-up does once: one embedding step at a time, machine-wide.
        instance.event_log_storage.set_concurrency_slots(EMBEDDING_POOL, 1)

        first, second = ingest(env, FIRST), ingest(env, SECOND)
        try:
            deadline = time.monotonic() + budget(300)
            while True:  # kill the first run once it is embedding
                run = run_of(instance, FIRST[0], [DagsterRunStatus.STARTED])
                if run and embedding_step(instance, run.run_id):
                    break
                assert first.poll() is None, first.stdout.read() if first.stdout else ""
                assert time.monotonic() < deadline, "the first run never started embedding"
                time.sleep(0.2)
            time.sleep(1.0)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=budget(30))
            killed_at = time.time()
        # What run monitoring does for a run whose worker died: fail it, free its slots.
        killed = instance.get_run_by_id(run.run_id)
        assert killed is not None and killed.status == DagsterRunStatus.STARTED
        instance.report_run_failed(killed)
        instance.event_log_storage.free_concurrency_slots_for_run(killed.run_id)

        output, _ = second.communicate(timeout=budget(600))
        assert second.returncode == 0, output
        rerun = ingest(env, FIRST)
        output, _ = rerun.communicate(timeout=budget(600))
        assert rerun.returncode == 0, output

        # The runs are in the PostgreSQL instance, with their outcomes.
        succeeded = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        assert {r.tags[ASSET_PARTITION_RANGE_START_TAG] for r in succeeded} == {"00", "08"}
        assert instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.FAILURE
        # One embedding step at a time: the second run's came before the killed one's, or
        # waited for the pool slot that the killed run held until it was freed.
        second_run = run_of(instance, SECOND[0], [DagsterRunStatus.SUCCESS])
        assert second_run is not None
        started = embedding_step(instance, second_run.run_id)
        ended = embedding_step(instance, second_run.run_id, DagsterEventType.STEP_SUCCESS)
        killed_started = embedding_step(instance, killed.run_id)
        assert started and ended and killed_started
        assert ended <= killed_started or started >= killed_at

        # Converged: every document indexed once, the index holds exactly the ledger's chunks.
        settings = Settings(source_dir=source, data_dir=data, database_url=state_url,
                            golden_set=None)
        services = PipelineServices(settings)
        documents = services.ledger.documents()
        assert sorted(d.source_path for d in documents.values() if d.status == INDEXED) == \
            sorted(p.name for p in source.iterdir())
        ledger_ids = {c.chunk_id for c in services.ledger.iter_chunks()}
        assert qdrant_ids(settings) == ledger_ids
        assert services.qdrant.count() == len(ledger_ids)
        assert not list(data.rglob("*.sqlite"))  # all state on PostgreSQL
    finally:
        os.environ.pop("DAGSTER_POSTGRES_URL", None)
