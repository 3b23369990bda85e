"""A failed run reaches someone: the run-failure sensor posts to a webhook (a local HTTP server
here), retried through its 5xx answers, or writes to the log when no webhook is set."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    asset,
    build_run_status_sensor_context,
    define_asset_job,
    materialize,
)

from rag_pipeline.alerts import Alert
from rag_pipeline.webhook_notifier import WebhookError, WebhookNotifier
from resources.alerts import AlertsResource
from sensors.run_failures import build_run_failure_sensor


class Receiver(ThreadingHTTPServer):
    def __init__(self, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures = failures
        self.received: list[dict] = []
        self.answers: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T000/B000/secret-token"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = 500 if len(self.server.answers) < self.server.failures else 200
        self.server.answers.append(status)
        if status == 200:
            self.server.received.append(body)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(failures=getattr(request, "param", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@asset
def extracted_documents() -> None:
    raise RuntimeError("source unreachable: s3://handbook/ answered 503\nsecond line")


FAILING_JOB = define_asset_job("handbook_ingest_job", selection=[extracted_documents])


def failure_context(alerts: AlertsResource):
    instance = DagsterInstance.ephemeral()
    result = materialize([extracted_documents], instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    [failure] = [e for e in result.all_events
                 if e.event_type == DagsterEventType.RUN_FAILURE]
    return build_run_status_sensor_context(
        sensor_name="run_failure_alerts", dagster_event=failure, dagster_instance=instance,
        dagster_run=run, resources={"alerts": alerts}).for_run_failure()


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_a_failed_run_is_posted_to_the_webhook_through_its_5xx(receiver: Receiver) -> None:
    sensor = build_run_failure_sensor([FAILING_JOB])
    context = failure_context(AlertsResource(webhook_url=receiver.url))
    sensor(context)
    assert receiver.answers == [500, 500, 200]
    [alert] = receiver.received
    assert alert["fields"]["run_id"] == context.dagster_run.run_id
    assert "extracted_documents" in alert["text"]
    assert "source unreachable: s3://handbook/ answered 503" in alert["text"]
    assert "second line" not in alert["text"]  # the first line of the root cause


def test_without_a_webhook_the_alert_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    sensor = build_run_failure_sensor([FAILING_JOB])
    with caplog.at_level(logging.ERROR, logger="rag_pipeline.alerts"):
        sensor(failure_context(AlertsResource()))
    assert any("source unreachable" in r.getMessage() for r in caplog.records
               if r.name == "rag_pipeline.alerts")


@pytest.mark.parametrize("receiver", [99], indirect=True)
def test_a_webhook_that_keeps_failing_is_a_clear_error_without_its_secret(
        receiver: Receiver) -> None:
    notifier = WebhookNotifier(receiver.url, timeout_seconds=5, attempts=3)
    with pytest.raises(WebhookError) as failure:
        notifier.send(Alert("title", "text"))
    assert receiver.answers == [500, 500, 500]
    assert "HTTP 500" in str(failure.value) and "after 3 tries" in str(failure.value)
    assert "secret-token" not in str(failure.value)
