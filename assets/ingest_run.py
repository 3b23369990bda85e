"""One in-process run of the whole asset graph over some shards, for `rag-pipeline ingest`,
`rag-pipeline eval`, scripts, cron and the tests (no daemon, no webserver).

With `DAGSTER_HOME` set, the run is recorded in that instance like any other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import DagsterInstance, materialize

from assets import ASSET_NAMES, KnowledgeBaseAssets, knowledge_base_assets
from rag_pipeline.ids import all_shard_keys
from rag_pipeline.knowledge_bases import DEFAULT_NAME, KnowledgeBase
from rag_pipeline.settings import Settings
from resources import settings_resources

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"
"""The run tags of a single-run backfill over a range of partitions (Dagster's documented
tags; it exports no public constant for them)."""


class IngestError(RuntimeError):
    """The run failed: a blocking check kept the batch out of the index, or a step failed."""


def run_ingest(settings: Settings, shards: Sequence[str] | None = None,
               knowledge_base: str = DEFAULT_NAME) -> dict[str, dict]:
    """Materialize a knowledge base's asset graph in-process (no daemon needed), with
    `settings`. Returns metadata per asset, plus "checks": {check name: (passed,
    description)}. Raises IngestError when the run fails."""
    keys = sorted(shards) if shards else all_shard_keys()
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    kb = KnowledgeBaseAssets.of(KnowledgeBase(knowledge_base, settings))
    result = materialize(
        knowledge_base_assets(kb),
        instance=instance,
        resources=settings_resources(knowledge_base, settings),
        tags={PARTITION_RANGE_START: keys[0], PARTITION_RANGE_END: keys[-1]},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    checks = {e.check_name: (e.passed, e.description or "")
              for e in result.get_asset_check_evaluations()}
    if not result.success:
        failed_checks = [f"{name}: {text}" for name, (passed, text) in checks.items()
                         if not passed and not name.endswith("failed_documents")]
        failed_steps = [
            f"{event.step_key}: {cause}"
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data and event.step_failure_data.error
            and "blocking asset check" not in (
                cause := _root_cause(event.step_failure_data.error))
        ]
        raise IngestError("ingest run failed; nothing from the failed steps reached the index.\n"
                          + "\n".join(f"  {line}" for line in failed_checks + failed_steps))
    reports: dict[str, dict] = {"checks": checks}
    for name in ASSET_NAMES:
        events = result.asset_materializations_for_node(kb.key(name).to_python_identifier())
        if events:
            reports[name] = {k: getattr(v, "value", v) for k, v in events[0].metadata.items()}
    return reports


def _root_cause(error: object) -> str:
    """The first line of the first error that is not one of Dagster's wrappers."""
    while getattr(error, "cause", None) is not None and str(
        getattr(error, "cls_name", "") or ""
    ).startswith("Dagster"):
        error = error.cause  # type: ignore[attr-defined]
    message = str(getattr(error, "message", error)).strip()
    return message.splitlines()[0] if message else type(error).__name__
