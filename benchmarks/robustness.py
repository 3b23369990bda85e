"""Run whole folders of difficult files through the pipeline and count the outcomes.

Usage: python benchmarks/robustness.py ../shared/data/bad-inputs ../shared/data/corpus

Prints per folder: files, indexed, failed by reason, crashed (a run that raised, or a document
failing with an unexpected exception), hung (documents stopped by the time limit), seconds.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from assets.ingest_run import IngestError, run_ingest
from rag_pipeline.ledger import Ledger
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import pipeline_state


def reason_kind(error: str) -> str:
    """Group reasons: drop file-specific details after the first colon or parenthesis."""
    return re.split(r"[:(]", error, maxsplit=1)[0].strip()


def run_folder(folder: Path) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="rag-robust-"))
    settings = Settings.from_env()
    settings = type(settings)(**{**settings.__dict__, "source_dir": folder.resolve(),
                                 "data_dir": data_dir, "golden_set": None})
    started = time.perf_counter()
    run_error = None
    try:
        run_ingest(settings)
    except IngestError as exc:
        run_error = str(exc)
    seconds = time.perf_counter() - started
    documents = Ledger(pipeline_state(settings)).documents().values()
    failed = [d for d in documents if d.status == "failed"]
    reasons = Counter(reason_kind(d.error or "") for d in failed)
    crashed = sum(1 for d in failed if (d.error or "").startswith(("extraction failed",
                                                                    "extraction crashed")))
    hung = sum(1 for d in failed if "time limit" in (d.error or ""))
    return {
        "folder": str(folder), "files": len(documents),
        "indexed": sum(1 for d in documents if d.status == "indexed"),
        "duplicate": sum(1 for d in documents if d.status == "duplicate"),
        "failed": len(failed), "failed_by_reason": dict(reasons.most_common()),
        "crashed": crashed + (1 if run_error else 0), "hung": hung,
        "run_error": run_error, "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    out = sys.stdout
    for folder in args.folders:
        result = run_folder(folder)
        out.write(f"\n{result['folder']}: {result['files']} files, {result['indexed']} indexed, "
                  f"{result['duplicate']} duplicate, {result['failed']} failed, crashed "
                  f"{result['crashed']}, hung {result['hung']}, {result['seconds']} s\n")
        for reason, count in result["failed_by_reason"].items():  # type: ignore[union-attr]
            out.write(f"  {count:>4}  {reason}\n")
        if result["run_error"]:
            out.write(f"  run error: {result['run_error']}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
