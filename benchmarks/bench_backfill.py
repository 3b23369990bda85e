"""Model-change figures: python benchmarks/bench_backfill.py FOLDER [--search-interval 2]

Ingests FOLDER with all-MiniLM-L6-v2, then switches to a second model (the same weights
without the Normalize module: other vectors, other fingerprint, the same cost per chunk) and
backfills everything while another process searches like a user would: one long-lived
searcher, one query every --search-interval seconds (0: no searcher, to see the backfill's own
overhead). Prints, from one run:
- re-embedding throughput during the backfill as a ratio of pure embedding throughput;
- the alias swap time;
- search latency during the backfill vs before it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from assets.ingest_run import run_ingest
from rag_pipeline.embedding import embedder_for
from rag_pipeline.ledger import Ledger
from rag_pipeline.models import resolve_model
from rag_pipeline.search import Searcher
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import pipeline_state

QUERIES = ["how do I configure the system", "error message when installing", "table of values",
           "introduction and overview", "license terms", "performance of the algorithm"]


def unnormalized_copy(folder: Path) -> Path:
    source = resolve_model("all-MiniLM-L6-v2").path
    target = folder / "minilm-unnormalized"
    shutil.copytree(source, target)
    modules = [m for m in json.loads((target / "modules.json").read_text())
               if "Normalize" not in m["type"]]
    (target / "modules.json").write_text(json.dumps(modules, indent=2))
    return target


def search_loop(data_dir: str, source_dir: str, interval: float, out_path: str) -> None:
    """Runs in its own process: appends one latency (ms) per line until it is terminated."""
    settings = replace(Settings.from_env(), data_dir=Path(data_dir), source_dir=Path(source_dir))
    searcher = Searcher(settings)
    with open(out_path, "a") as out:
        while True:
            for query in QUERIES:
                started = time.perf_counter()
                searcher.search(query, k=10)
                out.write(f"{(time.perf_counter() - started) * 1000:.1f}\n")
                out.flush()
                time.sleep(interval)


def pure_embedding_rate(settings: Settings, texts: list[str]) -> float:
    """Chunks/s of the backfill's model on the same texts, nothing else running, with the
    pipeline's embedder (its worker processes)."""
    embedder = embedder_for(resolve_model(settings.embedding_model),
                            settings.embedding_batch_size, workers=settings.embedding_workers)
    # Model load in every worker (one batch each) outside the timing.
    embedder.embed(texts[: settings.embedding_batch_size * settings.embedding_workers])
    started = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--search-interval", type=float, default=2.0,
                        help="seconds between the searcher's queries during the backfill "
                             "(0: no searches during the backfill)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-backfill-"))
    settings = replace(Settings.from_env(), source_dir=args.folder.resolve(),
                       data_dir=work / "data", golden_set=None)
    run_ingest(settings)

    before: list[float] = []
    searcher = Searcher(settings)
    searcher.search("warm-up", k=10)
    for _ in range(5):
        for query in QUERIES:
            started = time.perf_counter()
            searcher.search(query, k=10)
            before.append((time.perf_counter() - started) * 1000)

    model_b = replace(settings, embedding_model=str(unnormalized_copy(work)))
    texts = [c.index_text for c in Ledger(pipeline_state(settings)).iter_chunks()]
    pure_before = pure_embedding_rate(model_b, texts)
    latency_file = work / "latencies.txt"
    searcher = None
    if args.search_interval > 0:
        searcher = multiprocessing.get_context("spawn").Process(
            target=search_loop, daemon=True,
            args=(str(settings.data_dir), str(settings.source_dir), args.search_interval,
                  str(latency_file)))
        searcher.start()
    started = time.perf_counter()
    reports = run_ingest(model_b)
    backfill_seconds = time.perf_counter() - started
    if searcher is not None:
        searcher.terminate()
        searcher.join(timeout=30)
    during = [float(v) for v in latency_file.read_text().split()] if latency_file.exists() else []

    embed = reports["chunk_embeddings"]
    pure_after = pure_embedding_rate(model_b, texts)
    # The machine is shared: pure embedding is timed before and after the backfill, and the
    # faster of the two is the reference (the stricter ratio).
    pure_rate = max(pure_before, pure_after)
    backfill_rate = embed["num_chunks_embedded"] / backfill_seconds
    publish = reports["published_collection"]
    out = sys.stdout
    out.write(f"chunks {len(texts)}; backfill re-embedded {embed['num_chunks_embedded']} in "
              f"{backfill_seconds:.1f} s ({backfill_rate:.1f}/s, whole run)\n")
    stage_rate = embed["num_chunks_embedded"] / embed["embed_seconds"]
    out.write(f"pure embedding of the same texts: {pure_before:.1f}/s before, {pure_after:.1f}/s "
              f"after the backfill; against the faster: whole backfill run / pure "
              f"{backfill_rate / pure_rate:.3f}; embedding inside the backfill "
              f"{stage_rate:.1f}/s = {stage_rate / pure_rate:.3f} of pure (target >= 0.9; "
              + (f"one search every {args.search_interval:g} s from another process meanwhile"
                 if args.search_interval > 0 else "no searches meanwhile") + ")\n")
    out.write(f"published: {publish['published']}; alias swap "
              f"{float(publish.get('alias_swap_seconds', 0)) * 1000:.1f} ms\n")
    for name, values in (("before", before), ("during", during)):
        if values:
            out.write(f"search latency {name} the backfill: p50 "
                      f"{np.percentile(values, 50):.0f} ms, p95 {np.percentile(values, 95):.0f} "
                      f"ms ({len(values)} queries)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
