"""End to end: the real daemon notices a new file, indexes it, and removes it when deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dagster_dev import dagster_dev, wait_for
from tests.fixtures import write_docx

pytestmark = pytest.mark.slow
MARKER = "Quetzalcoatlus"


def test_drop_a_file_then_delete_it(tmp_path: Path) -> None:
    source, data = tmp_path / "source", tmp_path / "data"
    source.mkdir()
    # Ticks every 5 s, not the default 30: the test is about what a tick does, not when.
    with dagster_dev(tmp_path, source, data, sensor_interval_seconds=5) as dev:
        write_docx(source / "incoming" / "pterosaurs.docx", "Pterosaurs", [
            ("Giants", f"{MARKER} northropi was one of the largest flying animals, with a "
                       "wingspan of about ten metres."),
        ])
        try:
            wait_for(lambda: "pterosaurs.docx" in dev.search(MARKER), timeout=300)
        except TimeoutError:
            pytest.fail(f"the new document was not searchable within 300 s; runs: {dev.runs()}"
                        f"\n{dev.tail()}")
        assert "pterosaurs.docx" in dev.search("largest flying animal wingspan", mode="hybrid")

        (source / "incoming" / "pterosaurs.docx").unlink()
        try:
            wait_for(lambda: "pterosaurs.docx" not in dev.search(MARKER), timeout=240)
        except TimeoutError:
            pytest.fail(f"the deleted document was still found after 240 s; runs: {dev.runs()}"
                        f"\n{dev.tail()}")
        # The index changes before the run ends (checks and publish follow the writes).
        finished = ("SUCCESS", "FAILURE", "CANCELED")
        try:
            wait_for(lambda: all(r["status"] in finished for r in dev.runs()), timeout=120)
        except TimeoutError:
            pytest.fail(f"runs did not finish within 120 s: {dev.runs()}\n{dev.tail()}")
        runs = dev.runs()
        assert len(runs) == 2, runs  # one run to add, one to delete
        assert all(r["status"] == "SUCCESS" for r in runs), runs
