"""Documents from a bucket against the same documents in a folder (#20's figures).

Usage: python -m benchmarks.bench_sources [--files 10000] [--documents 60]
       [--dataset ../shared/data/scifact] [--json OUT.json]

1. The sensor's work over unchanged documents: `pending_changes` (the listing and the ledger
   diff a tick runs) over `--files` small files in a folder, and over the same files as
   objects in a bucket of moto's S3 server on 127.0.0.1; best of 5 each. Beside it, the
   listing alone, and boto3's paginator over the same keys (the server's share).
2. An ingest of `--documents` SciFact abstracts (as `rag-pipeline eval` writes them), from the
   folder and from the bucket, each into a fresh data folder, in this process one after the
   other (the model and the workers are warmed up by a first ingest that is not counted).

moto serves S3 from this machine, so the bucket figures leave out a network's latency; they
show what the object-store path itself costs. Needs the test extra (moto[server]).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from rag_pipeline.ledger import Ledger, LedgerUpdate
from rag_pipeline.records import DocumentFailure
from rag_pipeline.settings import Settings
from rag_pipeline.sources import list_documents, open_source
from rag_pipeline.state_database import pipeline_state
from rag_pipeline.watch import pending_changes

BUCKET = "bench"


def _upload(s3: object, folder: Path, prefix: str) -> int:
    paths = sorted(p for p in folder.rglob("*") if p.is_file())

    def put(path: Path) -> None:
        s3.client.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(folder).as_posix()}",
                             Body=path.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, paths))
    return len(paths)


def _best_tick(settings: Settings, repeats: int = 5) -> tuple[float, float]:
    """(best tick, best listing alone): the listing is the store's share of a tick."""
    ledger = Ledger(pipeline_state(settings))
    source = open_source(settings)
    ledger.apply(LedgerUpdate(failed=[DocumentFailure(f, "h", "benchmark")
                                      for f in list_documents(source, None, settings)]))
    ticks, listings = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        changes = pending_changes(settings, ledger)
        ticks.append(time.perf_counter() - started)
        assert not changes, changes.summary()
        started = time.perf_counter()
        list_documents(source, None, settings)
        listings.append(time.perf_counter() - started)
    return min(ticks), min(listings)


def tick_figures(s3: object, work: Path, files: int) -> dict[str, float]:
    folder = work / "tick-source"
    for i in range(files):
        path = folder / f"d{i // 500:03d}" / f"doc{i}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Document {i}\n\nBody {i}.\n")
    _upload(s3, folder, "tick")
    in_folder, folder_listing = _best_tick(Settings(source_dir=folder,
                                                    data_dir=work / "tick-folder"))
    in_bucket, bucket_listing = _best_tick(Settings(source_dir=folder,
                                                    data_dir=work / "tick-bucket",
                                                    source_uri=f"s3://{BUCKET}/tick"))
    raw = []
    for _ in range(5):  # the store's own answer, without s3fs: what moto costs
        started = time.perf_counter()
        for _page in s3.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                          Prefix="tick/"):
            pass
        raw.append(time.perf_counter() - started)
    return {"files": files, "tick_folder_s": round(in_folder, 3), "listing_boto3_s":
            round(min(raw), 3),
            "tick_bucket_s": round(in_bucket, 3),
            "tick_bucket_over_folder": round(in_bucket / in_folder, 2),
            "listing_folder_s": round(folder_listing, 3),
            "listing_bucket_s": round(bucket_listing, 3)}


def _abstracts(dataset: Path, n: int, folder: Path) -> None:
    with (dataset / "corpus.jsonl").open() as handle:
        for i, line in enumerate(handle):
            if i >= n:
                break
            record = json.loads(line)
            path = folder / f"{record['_id']}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {record.get('title', '')}\n\n{record['text']}\n")


def ingest_figures(s3: object, work: Path, dataset: Path, documents: int) -> dict[str, float]:
    from assets.ingest_run import run_ingest

    folder = work / "ingest-source"
    _abstracts(dataset, documents, folder)
    _upload(s3, folder, "ingest")
    base = replace(Settings.from_env(), source_dir=folder, golden_set=None)
    # As many documents as the measured runs: the embedding pool sizes itself to the batches
    # of a run, so a smaller warm-up would leave the first measured run to grow it.
    run_ingest(replace(base, data_dir=work / "data-warm"))
    figures: dict[str, float] = {"documents": documents}
    for name, settings in (
            ("folder", replace(base, data_dir=work / "data-folder")),
            ("bucket", replace(base, data_dir=work / "data-bucket",
                               source_uri=f"s3://{BUCKET}/ingest"))):
        started = time.perf_counter()
        report = run_ingest(settings)
        figures[f"ingest_{name}_s"] = round(time.perf_counter() - started, 1)
        assert report["extracted_documents"]["num_documents_new"] == documents
    figures["ingest_bucket_over_folder"] = round(
        figures["ingest_bucket_s"] / figures["ingest_folder_s"], 2)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.s3_server import S3Server

    work = Path(tempfile.mkdtemp(prefix="rag-sources-"))
    with S3Server() as s3:
        s3.client.create_bucket(Bucket=BUCKET)
        figures = tick_figures(s3, work, args.files)
        sys.stdout.write(f"sensor tick over {args.files:,} unchanged documents: folder "
                         f"{figures['tick_folder_s']} s, bucket {figures['tick_bucket_s']} s "
                         f"({figures['tick_bucket_over_folder']}x); the listing alone: "
                         f"folder {figures['listing_folder_s']} s, bucket "
                         f"{figures['listing_bucket_s']} s (boto3's paginator alone "
                         f"{figures['listing_boto3_s']} s)\n")
        if args.documents:
            figures |= ingest_figures(s3, work, args.dataset, args.documents)
            sys.stdout.write(f"ingest of {args.documents} documents: folder "
                             f"{figures['ingest_folder_s']} s, bucket "
                             f"{figures['ingest_bucket_s']} s "
                             f"({figures['ingest_bucket_over_folder']}x)\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
