"""Sensor figures: tick time over unchanged folders, and file-to-searchable time under dagster dev.

Usage: python benchmarks/bench_sensor.py [--sizes 1000 10000] [--freshness]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rag_pipeline.ledger import Ledger, LedgerUpdate
from rag_pipeline.records import DocumentFailure
from rag_pipeline.settings import Settings
from rag_pipeline.sources import list_source_files
from rag_pipeline.state_database import pipeline_state
from rag_pipeline.watch import pending_changes


def tick_seconds(size: int, repeats: int = 5) -> float:
    root = Path(tempfile.mkdtemp(prefix="rag-sensor-"))
    source = root / "source"
    for i in range(size):
        folder = source / f"d{i // 500:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"doc{i}.md").write_text(f"# Document {i}\n\nBody {i}.\n")
    settings = Settings(source_dir=source, data_dir=root / "data")
    ledger = Ledger(pipeline_state(settings))
    # Record every file as processed (the tick only compares stat with the ledger).
    ledger.apply(LedgerUpdate(failed=[DocumentFailure(f, "h", "benchmark")
                                      for f in list_source_files(source)]))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        changes = pending_changes(settings, ledger)
        best = min(best, time.perf_counter() - started)
        assert not changes
    return best


def freshness() -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.dagster_dev import dagster_dev, wait_for
    from tests.fixtures import write_docx

    tmp = Path(tempfile.mkdtemp(prefix="rag-fresh-"))
    (tmp / "source").mkdir()
    with dagster_dev(tmp, tmp / "source", tmp / "data") as dev:
        time.sleep(5)
        landed = time.time()
        write_docx(tmp / "source" / "note.docx", "Fresh note", [("Marker", "Xylophonist zebra.")])
        searchable = wait_for(lambda: "note.docx" in dev.search("Xylophonist"), timeout=600,
                              interval=1)
        # Searchable before the run ends: its checks and the publish follow the index writes.
        wait_for(lambda: dev.runs()[0]["endTime"] is not None, timeout=600, interval=1)
        run = dev.runs()[0]
        return {"searchable_seconds": round(searchable, 1),
                "waiting_seconds": round(run["startTime"] - landed, 1),
                "working_seconds": round(run["endTime"] - run["startTime"], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--freshness", action="store_true")
    args = parser.parse_args()
    out = sys.stdout
    for size in args.sizes:
        out.write(f"sensor tick over {size:>6,} unchanged files: {tick_seconds(size):.3f} s\n")
    if args.freshness:
        figures = freshness()
        out.write(f"file landed -> searchable: {figures['searchable_seconds']} s (waiting for "
                  f"the tick and the run to start {figures['waiting_seconds']} s, run "
                  f"{figures['working_seconds']} s)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
