"""Incremental re-runs on an ingested folder, with each stage's seconds:
python -m benchmarks.bench_incremental WORK_DIR [--full-seconds S] [--seed N]

WORK_DIR holds `documents/` and `data/` of an earlier ingest, for example the `ours` folder a
`make bench` run leaves under /tmp/rag-report-*. Runs, in one process: a no-op, 1 % of the
documents changed (a first time, which also starts the extraction workers, then the measured
time), a no-op, and 1 % deleted. With --full-seconds (the full ingest's time in the report),
each time is also given as a share of it. The folder is changed in place.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from assets.ingest_run import run_ingest
from benchmarks.bench_ingest import change_documents, delete_documents, load_models
from rag_pipeline.settings import Settings


def stage_seconds(reports: dict[str, dict]) -> str:
    return " ".join(f"{asset}={value}" for asset, metadata in reports.items() if asset != "checks"
                    for key, value in metadata.items()
                    if key.endswith("_seconds") and key != "embed_seconds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--full-seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = replace(Settings.from_env(), source_dir=args.work_dir / "documents",
                       data_dir=args.work_dir / "data")
    load_models(settings)  # left out of the figures, as in the report
    rng = random.Random(args.seed)
    steps: list[tuple[str, Callable[[], list[str]] | None]] = [
        ("no-op", None),
        ("1% changed, first (starts the extraction workers)",
         lambda: change_documents(settings, 0.01, rng)),
        ("no-op", None),
        ("1% changed", lambda: change_documents(settings, 0.01, rng)),
        ("1% deleted", lambda: delete_documents(settings, 0.01, rng)),
    ]
    for label, action in steps:
        touched = action() if action else []
        started = time.perf_counter()
        reports = run_ingest(settings)
        seconds = time.perf_counter() - started
        share = f" = {seconds / args.full_seconds:.2%}" if args.full_seconds else ""
        sys.stdout.write(f"{label}: {seconds:.2f} s{share} ({len(touched)} documents)\n"
                         f"  {stage_seconds(reports)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
