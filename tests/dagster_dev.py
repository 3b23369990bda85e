"""Start a real `dagster dev` (webserver + daemon) for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.host_speed import budget

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DagsterDev:
    def __init__(self, url: str, env: dict[str, str], log: Path) -> None:
        self.url = url
        self.env = env
        self.log = log

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=budget(30)) as response:
            return json.loads(response.read())

    def runs(self) -> list[dict]:
        data = self.graphql("{ runsOrError { ... on Runs { results { runId status startTime "
                            "endTime creationTime tags { key value } } } } }")
        return data["data"]["runsOrError"]["results"]

    def search(self, query: str, mode: str = "bm25") -> str:
        """The real command line, as a user would run it."""
        result = subprocess.run(
            [str(Path(sys.executable).parent / "rag-pipeline"), "search", query, "-k", "5",
             "--mode", mode],
            env=self.env, capture_output=True, text=True, timeout=budget(120),
        )
        return result.stdout + result.stderr

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def dagster_dev(tmp: Path, source: Path, data: Path, timeout: float = 120,
                sensor_interval_seconds: int | None = None) -> Iterator[DagsterDev]:
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "RAG_SOURCE_DIR": str(source),
           "RAG_DATA_DIR": str(data)}
    if sensor_interval_seconds is not None:
        env["RAG_SENSOR_INTERVAL_SECONDS"] = str(sensor_interval_seconds)
    log = tmp / "dagster-dev.log"
    dagster = Path(sys.executable).parent / "dagster"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w",
             str(PROJECT / "workspace.yaml")],
            cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    dev = DagsterDev(f"http://127.0.0.1:{port}", env, log)
    try:
        try:
            wait_for(lambda: process.poll() is not None or answers(f"{dev.url}/server_info"),
                     timeout, interval=1)
        except TimeoutError:
            pass
        if process.poll() is not None or not answers(f"{dev.url}/server_info"):
            raise RuntimeError(f"dagster dev did not start:\n{dev.tail()}")
        yield dev
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=budget(30))
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)


def answers(url: str) -> bool:
    """A server answers at url (it has started)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except OSError:
        return False
    return True


def wait_for(predicate: object, timeout: float, interval: float = 3.0) -> float:
    """Poll until predicate() is true; return the seconds waited, or raise TimeoutError.
    `timeout`: on the reference machine (`tests.host_speed`)."""
    started = time.monotonic()
    while time.monotonic() - started < budget(timeout):
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(interval)
    raise TimeoutError
