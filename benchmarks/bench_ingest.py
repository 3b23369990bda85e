"""Ingest benchmark: python benchmarks/bench_ingest.py FOLDER [--data-dir DIR] [--out FILE]

Ingests FOLDER into a fresh data folder through the real asset graph (in-process), then, in the
same process, embeds the same chunk texts with the bare model, and re-runs the ingest with
nothing changed. Prints figures as ratios measured in one run (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

from rag_pipeline.cli import run_ingest
from rag_pipeline.embedding import embedder_for
from rag_pipeline.ledger import Ledger
from rag_pipeline.models import resolve_model
from rag_pipeline.settings import Settings

STAGES = [("extracted_documents", "extract_seconds"), ("cleaned_documents", "clean_seconds"),
          ("document_chunks", "chunk_seconds"), ("chunk_embeddings", "stage_seconds"),
          ("qdrant_index", "index_seconds"), ("bm25_index", "bm25_seconds")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    settings = Settings(source_dir=args.folder.resolve(), data_dir=data_dir)
    spec = resolve_model(settings.embedding_model)

    t0 = time.perf_counter()
    embedder = embedder_for(spec, settings.embedding_batch_size)
    embedder.embed(["warm-up"])
    model_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    reports = run_ingest(settings)
    full = time.perf_counter() - t0

    texts = [c.text for c in Ledger(settings.ledger_path).iter_chunks()]
    t0 = time.perf_counter()
    embedder.embed(texts)
    pure = time.perf_counter() - t0

    t0 = time.perf_counter()
    noop_reports = run_ingest(settings)
    noop = time.perf_counter() - t0

    extract = reports["extracted_documents"]
    figures = {
        "folder": str(args.folder),
        "documents": extract["num_files"],
        "documents_failed": extract["num_documents_failed"],
        "pages": extract["num_pages"],
        "chunks": len(texts),
        "model_load_seconds": round(model_load, 1),
        "stage_seconds": {name: reports[name][key] for name, key in STAGES},
        "ingest_seconds": round(full, 1),
        "end_to_end_chunks_per_second": round(len(texts) / full, 2),
        "pure_embedding_seconds": round(pure, 1),
        "pure_embedding_chunks_per_second": round(len(texts) / pure, 2),
        "end_to_end_over_pure_embedding": round(pure / full, 3),
        "noop_seconds": round(noop, 2),
        "noop_over_full": round(noop / full, 4),
        "noop_chunks_embedded": noop_reports["chunk_embeddings"]["num_chunks_embedded"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "failure_reasons": extract.get("failure_reasons", {}),
    }
    out = sys.stdout
    out.write(f"documents {figures['documents']} ({figures['documents_failed']} failed), "
              f"pages {figures['pages']}, chunks {figures['chunks']}\n")
    for name, seconds in figures["stage_seconds"].items():
        out.write(f"  {name:<22} {seconds:>9.1f} s\n")
    out.write(f"ingest end-to-end      {full:>9.1f} s  {figures['end_to_end_chunks_per_second']}"
              " chunks/s\n")
    out.write(f"pure embedding         {pure:>9.1f} s  "
              f"{figures['pure_embedding_chunks_per_second']} chunks/s (same texts, same run)\n")
    out.write(f"end-to-end / pure      {figures['end_to_end_over_pure_embedding']:>9.3f}"
              "  (target >= 0.85)\n")
    out.write(f"no-op re-run           {noop:>9.2f} s  = {figures['noop_over_full']:.2%} of the "
              f"full run (target < 2%), {figures['noop_chunks_embedded']} chunks embedded\n")
    out.write(f"model load {model_load:.1f} s (excluded), peak RSS {figures['peak_rss_mib']} MiB\n")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
