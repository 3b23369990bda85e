"""source_folder_sensor: new, changed and deleted documents become one ingest run."""

from __future__ import annotations

import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from rag_pipeline.ledger import Ledger
from rag_pipeline.settings import sensor_interval_seconds
from rag_pipeline.sources import SourceUnavailableError
from rag_pipeline.watch import mass_deletion_reason, pending_changes
from resources import PipelineSettingsResource, QdrantResource, pipeline_settings

INGEST_JOB = "ingest_job"
_IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED]


@sensor(job_name=INGEST_JOB, minimum_interval_seconds=sensor_interval_seconds(),
        default_status=DefaultSensorStatus.RUNNING)
def source_folder_sensor(
    context: SensorEvaluationContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> SensorResult | SkipReason:
    """Watches the source folder or bucket (its listing only, no document read) and requests one
    run covering the shards whose documents were added, changed or deleted. Refuses mass
    deletions; a listing that fails skips the tick."""
    settings = pipeline_settings(pipeline, qdrant)
    try:
        changes = pending_changes(settings, Ledger(settings.ledger_path))
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
        RunsFilter(job_name=INGEST_JOB, statuses=_IN_FLIGHT), limit=1
    )
    if in_flight:
        # One ingest at a time: the pending changes go into the next run, not a parallel one.
        return SkipReason(f"{changes.summary()}; waiting for run {in_flight[0].run_id} to finish")
    shards = changes.shards
    context.log.info(f"requesting an ingest run: {changes.summary()}")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"changes-{changes.signature}",
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: shards[0],
                    ASSET_PARTITION_RANGE_END_TAG: shards[-1],
                    "rag/new": str(len(changes.new)),
                    "rag/changed": str(len(changes.changed)),
                    "rag/deleted": str(len(changes.deleted)),
                },
            )
        ],
        cursor=json.dumps({"generation": changes.generation, "signature": changes.signature,
                           "num_files": changes.num_files}),
    )
