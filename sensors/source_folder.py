"""A knowledge base's source sensor: new, changed and deleted documents become one ingest run."""

from __future__ import annotations

import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.knowledge_base import KnowledgeBaseAssets
from rag_pipeline.ledger import Ledger
from rag_pipeline.pipeline.lineage import AFTER_ALL_SHARDS, PER_SHARD
from rag_pipeline.settings import Settings, max_shards_per_run, sensor_interval_seconds
from rag_pipeline.sources import SourceUnavailableError
from rag_pipeline.state_database import pipeline_state
from rag_pipeline.watch import mass_deletion_reason, pending_changes
from resources import pipeline_settings

_IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED]
SHARD_ASSETS = PER_SHARD
BATCH_END_ASSETS = AFTER_ALL_SHARDS
"""Run once after all the shard runs of a batch (RAG_MAX_SHARDS_PER_RUN), not once per run."""
BATCH_TAG = "rag/batch"


def build_source_sensor(kb: KnowledgeBaseAssets) -> SensorDefinition:
    """One sensor per knowledge base (each can be paused on its own in the UI)."""

    @sensor(name=f"{kb.name}_source_sensor", job_name=kb.job_name,
            minimum_interval_seconds=sensor_interval_seconds(),
            default_status=DefaultSensorStatus.RUNNING,
            required_resource_keys=kb.resource_keys)
    def source_sensor(context: SensorEvaluationContext,
                      **_resources: object) -> SensorResult | SkipReason:
        """Watches the knowledge base's source folder or bucket (its listing only, no
        document read) and requests one run covering the shards whose documents were added,
        changed or deleted. Refuses mass deletions; a listing that fails skips the tick.
        (Dagster passes the resources as keywords too when a sensor is called directly.)"""
        settings = pipeline_settings(getattr(context.resources, kb.pipeline_key),
                                     getattr(context.resources, kb.qdrant_key))
        return _evaluate(context, settings, kb, max_shards)

    max_shards = max_shards_per_run()
    return source_sensor


def _evaluate(context: SensorEvaluationContext, settings: Settings, kb: KnowledgeBaseAssets,
              max_shards: int) -> SensorResult | SkipReason:
    job_name = kb.job_name
    cursor = json.loads(context.cursor) if context.cursor else {}
    batch_end = _batch_end(context, kb, cursor)
    if batch_end is not None:
        return batch_end
    try:
        changes = pending_changes(settings, Ledger(pipeline_state(settings)))
    except (OSError, SourceUnavailableError) as exc:  # unmounted share, store down, denied...
        where = settings.source_uri or settings.source_dir
        context.log.warning(f"cannot list {where}: {exc}")
        return SkipReason(f"cannot list {where}: {exc}")
    if not changes:
        settling = f"; {changes.settling} files still being written" if changes.settling else ""
        return SkipReason(f"no changes in {changes.num_files} files{settling}")
    reason = mass_deletion_reason(len(changes.deleted), changes.num_known, settings)
    if reason:
        context.log.warning(reason)
        return SkipReason(reason)
    in_flight = context.instance.get_runs(
        RunsFilter(job_name=job_name, statuses=_IN_FLIGHT), limit=1
    )
    if in_flight:
        # One ingest at a time: the pending changes go into the next run, not a parallel one.
        return SkipReason(f"{changes.summary()}; waiting for run {in_flight[0].run_id} to finish")
    counts = {"rag/new": str(len(changes.new)), "rag/changed": str(len(changes.changed)),
              "rag/deleted": str(len(changes.deleted))}
    state = {"generation": changes.generation, "signature": changes.signature,
             "num_files": changes.num_files}
    if not max_shards:
        shards = changes.shards
        context.log.info(f"requesting an ingest run: {changes.summary()}")
        return SensorResult(run_requests=[RunRequest(
            run_key=f"changes-{changes.signature}",
            tags={ASSET_PARTITION_RANGE_START_TAG: shards[0],
                  ASSET_PARTITION_RANGE_END_TAG: shards[-1], **counts})], cursor=json.dumps(state))
    # Runs of at most `max_shards` changed shards, which workers run at once; the BM25 index
    # and the publication follow once, after the last of them (see `_batch_end`).
    groups = [changes.shards[i : i + max_shards]
              for i in range(0, len(changes.shards), max_shards)]
    context.log.info(f"requesting {len(groups)} ingest runs: {changes.summary()}")
    return SensorResult(run_requests=[
        RunRequest(run_key=f"changes-{changes.signature}-{i}",
                   asset_selection=[kb.key(name) for name in SHARD_ASSETS],
                   tags={ASSET_PARTITION_RANGE_START_TAG: group[0],
                         ASSET_PARTITION_RANGE_END_TAG: group[-1],
                         BATCH_TAG: changes.signature, **counts})
        for i, group in enumerate(groups)
    ], cursor=json.dumps({**state, "batch_end_pending": changes.signature}))


def _batch_end(context: SensorEvaluationContext, kb: KnowledgeBaseAssets,
               cursor: dict) -> SensorResult | SkipReason | None:
    """Once every shard run of the last batch has ended (whatever its outcome: a failed
    shard's documents are retried by the next batch), one run of the assets over all shards."""
    batch = cursor.get("batch_end_pending")
    if not batch:
        return None
    in_flight = context.instance.get_runs(
        RunsFilter(job_name=kb.job_name, statuses=_IN_FLIGHT, tags={BATCH_TAG: batch}), limit=1)
    if in_flight:
        return SkipReason(f"waiting for the shard runs of batch {batch[:12]} to finish")
    context.log.info(f"shard runs of batch {batch[:12]} finished: refreshing the BM25 index "
                     "and the published collection")
    return SensorResult(
        run_requests=[RunRequest(run_key=f"batch-end-{batch}",
                                 asset_selection=[kb.key(n) for n in BATCH_END_ASSETS],
                                 tags={BATCH_TAG: batch})],
        cursor=json.dumps({k: v for k, v in cursor.items() if k != "batch_end_pending"}))
