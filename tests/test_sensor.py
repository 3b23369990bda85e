"""The source sensor of a knowledge base, evaluated directly with build_sensor_context."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorResult, SkipReason

from assets.ingest_run import run_ingest
from rag_pipeline.ids import document_id_for, shard_for
from rag_pipeline.ledger import Ledger, LedgerUpdate
from rag_pipeline.records import DocumentFailure
from rag_pipeline.settings import Settings
from rag_pipeline.sources import list_source_files
from rag_pipeline.watch import pending_changes
from tests.knowledge_base_defs import kb_assets, sensor_tick


def age(path: Path, seconds: float = 60) -> None:
    """Make a file look settled (written a while ago)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def write(folder: Path, name: str, text: str = "hello") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    age(path)
    return path


def tick(settings: Settings, instance: DagsterInstance | None = None,
         cursor: str | None = None) -> SensorResult | SkipReason:
    return sensor_tick(settings, instance, cursor)


def record_in_ledger(settings: Settings) -> None:
    """Mark every current file as processed without running the pipeline (fast)."""
    files = list_source_files(settings.source_dir)
    Ledger(settings.ledger_path).apply(
        LedgerUpdate(failed=[DocumentFailure(f, "hash", "test") for f in files]))


def requests(result: SensorResult | SkipReason) -> list:
    assert isinstance(result, SensorResult), result
    return list(result.run_requests or [])


def test_empty_folder_skips(settings: Settings) -> None:
    result = tick(settings)
    assert isinstance(result, SkipReason) and "no changes in 0 files" in result.skip_message


def test_new_files_become_one_run_over_their_shards(settings: Settings) -> None:
    names = [f"doc{i}.md" for i in range(40)]
    for name in names:
        write(settings.source_dir, name)
    [request] = requests(tick(settings))
    shards = sorted({shard_for(document_id_for(n)) for n in names})
    assert request.tags["dagster/asset_partition_range_start"] == shards[0]
    assert request.tags["dagster/asset_partition_range_end"] == shards[-1]
    assert request.tags["rag/new"] == "40"
    assert request.run_key.startswith("changes-")


def test_first_start_on_a_large_folder_is_one_run(settings: Settings) -> None:
    for i in range(2000):
        write(settings.source_dir, f"d{i // 100}/f{i}.txt", str(i))
    assert len(requests(tick(settings))) == 1


def test_repeated_tick_gives_the_same_run_key(settings: Settings) -> None:
    write(settings.source_dir, "a.md")
    first = requests(tick(settings))[0]
    second = requests(tick(settings, cursor=json.dumps({"generation": 0})))[0]
    assert first.run_key == second.run_key  # Dagster drops a run key it has already launched


def test_unchanged_changed_deleted_and_renamed(settings: Settings) -> None:
    a = write(settings.source_dir, "a.md", "alpha")
    b = write(settings.source_dir, "b.md", "beta")
    record_in_ledger(settings)
    assert isinstance(tick(settings), SkipReason)

    a.write_text("alpha, edited")
    age(a, 30)
    [request] = requests(tick(settings))
    assert (request.tags["rag/new"], request.tags["rag/changed"]) == ("0", "1")

    record_in_ledger(settings)
    b.rename(settings.source_dir / "c.md")  # a rename: one deletion and one new document
    [request] = requests(tick(settings))
    assert (request.tags["rag/new"], request.tags["rag/deleted"]) == ("1", "1")


def test_ignored_and_half_written_files_do_not_trigger(settings: Settings) -> None:
    for name in ("~$draft.docx", ".notes.md.swp", "movie.mp4.part", ".hidden"):
        write(settings.source_dir, name)
    (settings.source_dir / "copying.pdf").write_bytes(b"%PDF-")  # mtime: now
    result = tick(settings)
    assert isinstance(result, SkipReason)
    assert "1 files still being written" in result.skip_message


def test_mass_deletion_is_refused(settings: Settings) -> None:
    paths = [write(settings.source_dir, f"doc{i}.md", str(i)) for i in range(20)]
    record_in_ledger(settings)
    for path in paths[:15]:
        path.unlink()
    result = tick(settings)
    assert isinstance(result, SkipReason)
    assert "refusing to delete 15 of 20 documents" in result.skip_message
    assert len(Ledger(settings.ledger_path).documents()) == 20  # nothing deleted

    # A few deletions are fine.
    record_in_ledger(settings)
    write(settings.source_dir, "doc0.md", "back")  # restore most of them
    for i in range(1, 15):
        write(settings.source_dir, f"doc{i}.md", str(i))
    paths[15].unlink()
    assert requests(tick(settings))[0].tags["rag/deleted"] == "1"


def test_unmounted_folder_is_a_skip_not_a_crash(settings: Settings) -> None:
    settings.source_dir.rmdir()
    result = tick(settings)
    assert isinstance(result, SkipReason) and "cannot list" in result.skip_message


def test_waits_while_an_ingest_run_is_in_flight(settings: Settings) -> None:
    from dagster import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    instance = DagsterInstance.ephemeral()
    create_run_for_test(instance, job_name=kb_assets(settings).job_name,
                        status=DagsterRunStatus.STARTED)
    write(settings.source_dir, "a.md")
    result = tick(settings, instance=instance)
    assert isinstance(result, SkipReason) and "waiting for run" in result.skip_message


def test_failing_documents_are_not_retried_every_tick(settings: Settings) -> None:
    (settings.source_dir / "broken.pdf").write_bytes(b"%PDF-1.4 junk")
    age(settings.source_dir / "broken.pdf")
    run_ingest(settings)
    assert Ledger(settings.ledger_path).failed_documents()[0].source_path == "broken.pdf"
    assert isinstance(tick(settings), SkipReason)


def test_pending_changes_never_reads_file_contents(settings: Settings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(50):
        write(settings.source_dir, f"f{i}.txt", str(i))
    record_in_ledger(settings)

    def no_reads(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sensor must not read files")

    monkeypatch.setattr(Path, "read_bytes", no_reads)
    monkeypatch.setattr(Path, "open", no_reads)
    changes = pending_changes(settings, Ledger(settings.ledger_path))
    assert not changes and changes.num_files == 50


def test_stage_refuses_mass_deletion_too(settings: Settings) -> None:
    for i in range(12):
        write(settings.source_dir, f"doc{i}.md", f"# Doc {i}\n\nText number {i}.")
    run_ingest(settings)
    for i in range(10):
        (settings.source_dir / f"doc{i}.md").unlink()
    with pytest.raises(Exception, match="refusing to delete 10 of 12 documents"):
        run_ingest(settings)
    assert len(Ledger(settings.ledger_path).documents()) == 12




def test_runs_of_at_most_n_shards_then_one_batch_end_run(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """RAG_MAX_SHARDS_PER_RUN: the changed shards in runs of at most N (workers run them at
    once), then, once none of them is in flight, one run of the BM25 index and the
    publication; executed here, the index comes out whole."""
    from dagster import DagsterRunStatus, materialize
    from dagster._core.test_utils import create_run_for_test

    from assets import knowledge_base_assets
    from resources import settings_resources
    from sensors.source_folder import BATCH_END_ASSETS, BATCH_TAG, SHARD_ASSETS
    from tests.test_pipeline import index_sizes

    monkeypatch.setenv("RAG_MAX_SHARDS_PER_RUN", "2")
    settings = Settings(source_dir=settings.source_dir, data_dir=settings.data_dir,
                        golden_set=None)
    names = [f"topic{i}.md" for i in range(5)]
    for i, name in enumerate(names):
        write(settings.source_dir, name, f"# Topic {i}\n\nA paragraph about subject {i} "
              f"and its {i * 7} particular details, written to be indexed.\n")
    shards = sorted({shard_for(document_id_for(n)) for n in names})
    result = tick(settings)
    shard_runs = requests(result)
    assert len(shard_runs) == (len(shards) + 1) // 2
    assert [(r.tags["dagster/asset_partition_range_start"],
             r.tags["dagster/asset_partition_range_end"]) for r in shard_runs] == \
        [(shards[i], shards[min(i + 1, len(shards) - 1)]) for i in range(0, len(shards), 2)]
    kb = kb_assets(settings)
    for request in shard_runs:
        assert {k.path[-1] for k in request.asset_selection} == set(SHARD_ASSETS)
    batch = shard_runs[0].tags[BATCH_TAG]

    # While a shard run of the batch is in flight, the batch end waits.
    busy = DagsterInstance.ephemeral()
    create_run_for_test(busy, job_name=kb.job_name, status=DagsterRunStatus.STARTED,
                        tags={BATCH_TAG: batch})
    waiting = tick(settings, instance=busy, cursor=result.cursor)
    assert isinstance(waiting, SkipReason) and "waiting for the shard runs" in \
        waiting.skip_message

    instance = DagsterInstance.ephemeral()
    assets = knowledge_base_assets(kb)
    resources = settings_resources(kb.name, settings)
    for request in shard_runs:  # as the run launcher would, in any order or at once
        assert materialize(assets, selection=request.asset_selection, tags=request.tags,
                           resources=resources, instance=instance).success
    for name in BATCH_END_ASSETS:  # not once per shard run: that is the batch end's
        assert instance.get_latest_materialization_event(kb.key(name)) is None
    [end] = requests(after := tick(settings, instance=instance, cursor=result.cursor))
    assert {k.path[-1] for k in end.asset_selection} == set(BATCH_END_ASSETS)
    assert end.run_key == f"batch-end-{batch}"
    assert materialize(assets, selection=end.asset_selection, tags=end.tags,
                       resources=resources, instance=instance).success

    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25 >= len(names)
    assert "batch_end_pending" not in json.loads(after.cursor or "{}")
    assert isinstance(tick(settings, instance=instance, cursor=after.cursor), SkipReason)
