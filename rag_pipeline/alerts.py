"""Telling someone that a run failed: what the Dagster failure sensor sends, and where.

A `Notifier` is a port: the log (the default: the sensor's log in the Dagster UI and the
daemon's output) or a webhook (`webhook_notifier`: Slack's incoming webhooks and any service
that takes a JSON POST), chosen by `RAG_ALERT_WEBHOOK_URL`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    title: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)

    def as_text(self) -> str:
        lines = [self.title, self.text, *(f"{k}: {v}" for k, v in self.fields.items())]
        return "\n".join(line for line in lines if line)

    def as_json(self) -> dict[str, object]:
        """`text` is what Slack shows; the rest is there for other receivers."""
        return {"text": self.as_text(), "title": self.title, "fields": self.fields}


class Notifier(Protocol):
    def describe(self) -> str: ...

    def send(self, alert: Alert) -> None:
        """Deliver `alert` or raise, saying why (after the notifier's own retries)."""
        ...


class LogNotifier:
    def describe(self) -> str:
        return "the log"

    def send(self, alert: Alert) -> None:
        log.error("%s", alert.as_text())


def notifier_for(webhook_url: str | None, timeout_seconds: float = 10.0) -> Notifier:
    if webhook_url:
        from rag_pipeline.webhook_notifier import WebhookNotifier

        return WebhookNotifier(webhook_url, timeout_seconds)
    return LogNotifier()


def run_failure_alert(job_name: str, run_id: str, failures: list[tuple[str, str]],
                      reason: str | None) -> Alert:
    """The alert for a failed run: which job (so which knowledge base), which steps failed and
    the first line of each error."""
    steps = "\n".join(f"- {step}: {error}" for step, error in failures)
    return Alert(title=f"rag-pipeline run failed: {job_name}",
                 text=steps or (reason or "the run failed"),
                 fields={"job": job_name, "run_id": run_id})
