"""Where alerts go: the log by default, a webhook when `RAG_ALERT_WEBHOOK_URL` is set (an
`EnvVar`, so its secret path is not in the UI)."""

from __future__ import annotations

from collections.abc import Mapping

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from rag_pipeline.alerts import Notifier, notifier_for

ALERTS_KEY = "alerts"


class AlertsResource(ConfigurableResource):
    webhook_url: str | None = Field(
        default=None, description="RAG_ALERT_WEBHOOK_URL: a webhook that takes a JSON POST "
        "(Slack's incoming webhooks do); unset: failures go to the log")

    def notifier(self) -> Notifier:
        return notifier_for((self.webhook_url or "").strip() or None)


def alerts_resource(environ: Mapping[str, str]) -> AlertsResource:
    if (environ.get("RAG_ALERT_WEBHOOK_URL") or "").strip():
        return AlertsResource(webhook_url=EnvVar("RAG_ALERT_WEBHOOK_URL"))
    return AlertsResource()
