"""Failed runs reach someone: a run-failure sensor over every knowledge base's job sends an
alert (the log, or a webhook) naming the job, the failed steps and their errors. A blocking
check that fails stops its run, so it is reported here too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    run_failure_sensor,
)

from rag_pipeline.alerts import run_failure_alert
from resources.alerts import AlertsResource


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def build_run_failure_sensor(jobs: Sequence[Any]) -> SensorDefinition:
    """`jobs`: the knowledge bases' ingest jobs (as `define_asset_job` returns them)."""
    @run_failure_sensor(name="run_failure_alerts", monitored_jobs=jobs,
                        default_status=DefaultSensorStatus.RUNNING)
    def run_failure_alerts(context: RunFailureSensorContext, alerts: AlertsResource) -> None:
        """Sends one alert per failed ingest run."""
        failures = []
        for event in context.get_step_failure_events():
            error = event.step_failure_data.error if event.step_failure_data else None
            cause = error
            while cause is not None and cause.cause is not None:
                cause = cause.cause
            failures.append((event.step_key or "?", _first_line(cause.message if cause else
                                                                 event.message)))
        run = context.dagster_run
        alert = run_failure_alert(run.job_name, run.run_id, failures,
                                  _first_line(context.failure_event.message))
        context.log.warning(alert.as_text())
        notifier = alerts.notifier()
        notifier.send(alert)
        context.log.info(f"alert for run {run.run_id} sent to {notifier.describe()}")

    return run_failure_alerts
