"""Alerts POSTed as JSON to a webhook (a Slack incoming webhook, or any receiver), retried
with backoff on timeouts and 5xx, then a clear error naming the host, never the URL's secret
path."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from rag_pipeline.alerts import Alert


class WebhookError(RuntimeError):
    pass


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class WebhookNotifier:
    def __init__(self, url: str, timeout_seconds: float = 10.0, attempts: int = 4) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts

    def describe(self) -> str:
        """The host only: a Slack webhook's path is its secret."""
        return f"webhook at {urlsplit(self.url).netloc}"

    def send(self, alert: Alert) -> None:
        @retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(self.attempts),
               wait=wait_exponential_jitter(initial=0.5, max=8), reraise=True)
        def post() -> None:
            response = httpx.post(self.url, json=alert.as_json(), timeout=self.timeout_seconds)
            response.raise_for_status()

        try:
            post()
        except httpx.HTTPError as exc:
            status = (f"HTTP {exc.response.status_code}"
                      if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__)
            raise WebhookError(f"alert not delivered to the {self.describe()} after "
                               f"{self.attempts} tries: {status}") from None
