"""Ingest benchmark: python benchmarks/bench_ingest.py FOLDER [--work-dir DIR] [--out FILE]

Copies FOLDER into a work folder (so it can be edited), ingests it through the real asset graph
(in-process), embeds the same chunk texts with the bare model in the same process, then times
three incremental re-runs: nothing changed, 1% of the documents changed, 1% deleted. Figures
are ratios measured in one run (the machine is shared and noisy).

Pure embedding is timed in two halves of the chunk texts, one just before the ingest and one
just after it, so that a slow or fast spell of the shared host weighs on both sides of the
ratio. The texts for the first half come from the pipeline's own extraction, cleaning and
chunking, run on a scratch data folder before the ingest (its extraction workers are stopped
afterwards, so the ingest starts its own as a first run does).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psutil
from tqdm import tqdm

from assets.ingest_run import run_ingest
from rag_pipeline.embedding import embed_in_slices, embedder_for
from rag_pipeline.extract.isolation import stop_extraction_workers
from rag_pipeline.ids import all_shard_keys
from rag_pipeline.ledger import INDEXED, Ledger
from rag_pipeline.models import resolve_model
from rag_pipeline.pipeline.chunks import chunk_shards
from rag_pipeline.pipeline.documents import clean_shards, extract_shards
from rag_pipeline.pipeline.lineage import CHUNKED
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import pipeline_state

STAGES = [("extracted_documents", "extract_seconds"), ("cleaned_documents", "clean_seconds"),
          ("document_chunks", "chunk_seconds"), ("chunk_embeddings", "stage_seconds"),
          ("qdrant_index", "index_seconds"), ("bm25_index", "bm25_seconds")]
EDITABLE = {".md", ".txt", ".html", ".htm", ".rst", ".csv"}
"""Formats a benchmark can change by appending a paragraph, keeping the file valid."""


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def load_models(settings: Settings) -> None:
    """Load the model where runs use it (in this process for the checks' queries, and in the
    embedding workers), so that no timed figure includes the load."""
    spec = resolve_model(settings.embedding_model)
    for workers in {1, settings.embedding_workers}:
        embedder = embedder_for(spec, settings.embedding_batch_size, workers=workers)
        embedder.embed(["warm-up"] * settings.embedding_batch_size * workers)  # a batch each


def pure_embedding_seconds(settings: Settings, texts: list[str], slice_size: int = 512,
                           workers: int | None = None) -> float:
    """Seconds to embed `texts` and nothing else, with the pipeline's embedder (its worker
    processes, kept busy across slices) unless `workers` says otherwise (1: sentence-transformers
    in this process)."""
    embedder = embedder_for(resolve_model(settings.embedding_model), settings.embedding_batch_size,
                            workers=settings.embedding_workers if workers is None else workers)
    embedder.embed(texts[: settings.embedding_batch_size * settings.embedding_workers])  # loads
    texts = sorted(texts, key=len, reverse=True)  # as the pipeline orders them
    started = time.perf_counter()
    for _ in tqdm(embed_in_slices(embedder, texts, slice_size), desc="pure embedding",
                  unit="slice", total=-(-len(texts) // slice_size), leave=False):
        pass
    return time.perf_counter() - started


def texts_before_ingest(settings: Settings) -> list[str]:
    """The chunk texts an ingest of `settings.source_dir` embeds, from the pipeline's own
    extraction, cleaning and chunking on a scratch data folder (nothing is indexed)."""
    scratch = replace(settings, data_dir=settings.data_dir.with_name("scratch-data"))
    services = PipelineServices(scratch)
    shards = all_shard_keys()
    quiet = logging.getLogger("bench_ingest.scratch")
    try:
        extract_shards(services, shards, quiet)
        clean_shards(services, shards, quiet)
        chunk_shards(services, shards, quiet)
        by_hash = {c.content_hash: c.index_text for shard in shards
                   for c in services.stages.read(CHUNKED, shard).chunks}
    finally:
        stop_extraction_workers()
        shutil.rmtree(scratch.data_dir, ignore_errors=True)
    return list(by_hash.values())


def embedded_texts(settings: Settings) -> list[str]:
    """What the pipeline embedded: each distinct chunk content once, as the model sees it
    (section title and text)."""
    by_hash = {c.content_hash: c.index_text for c in Ledger(pipeline_state(settings)).iter_chunks()}
    return list(by_hash.values())


def change_documents(settings: Settings, share: float, rng: random.Random) -> list[str]:
    """Append a new paragraph to `share` of the indexed documents whose format allows it."""
    ledger = Ledger(pipeline_state(settings))
    indexed = sorted(d.source_path for d in ledger.documents().values() if d.status == INDEXED)
    count = max(1, round(len(indexed) * share))
    editable = [p for p in indexed if Path(p).suffix.lower() in EDITABLE]
    chosen = rng.sample(editable, min(count, len(editable)))
    for relative in chosen:
        path = settings.source_dir / relative
        addition = (f"\n\nRevision note {rng.randrange(10**9)}: this paragraph was added by the "
                    "benchmark to measure an incremental update of one document.\n")
        if path.suffix.lower() in {".html", ".htm"}:
            # Inside the body: HTML parsers drop what follows </html>.
            html = path.read_text(encoding="utf-8", errors="replace")
            at = html.lower().rfind("</body>")
            at = at if at >= 0 else len(html)
            path.write_text(f"{html[:at]}<p>{addition.strip()}</p>\n{html[at:]}",
                            encoding="utf-8")
            continue
        with path.open("a", encoding="utf-8") as handle:
            handle.write(addition)
    return chosen


def delete_documents(settings: Settings, share: float, rng: random.Random) -> list[str]:
    ledger = Ledger(pipeline_state(settings))
    indexed = sorted(d.source_path for d in ledger.documents().values() if d.status == INDEXED)
    chosen = rng.sample(indexed, max(1, round(len(indexed) * share)))
    for relative in chosen:
        (settings.source_dir / relative).unlink()
    return chosen


def measure(folder: Path, work_dir: Path, base: Settings | None = None) -> dict[str, object]:
    source = work_dir / "documents"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(folder, source, symlinks=True)  # copy2 keeps mtimes
    settings = replace(base or Settings.from_env(), source_dir=source,
                       data_dir=work_dir / "data")
    if settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    steps = tqdm(total=7, desc="ingest benchmark", unit="step")
    # Loading the model (in this process for the checks' queries, in the embedding workers)
    # is left out of every figure, as is Python's start.
    model_load, _ = timed(lambda: load_models(settings))
    steps.set_postfix_str("pure embedding, first half")
    ahead = sorted(texts_before_ingest(settings), key=len, reverse=True)
    pure_before = pure_embedding_seconds(settings, ahead[0::2])
    steps.update()
    steps.set_postfix_str("full ingest")
    full, reports = timed(lambda: run_ingest(settings))
    steps.update()
    num_chunks = Ledger(pipeline_state(settings)).num_chunks()
    texts = embedded_texts(settings)
    steps.set_postfix_str("pure embedding, second half")
    split = sorted(texts) == sorted(ahead)
    if split:
        pure_after = pure_embedding_seconds(settings, ahead[1::2])
    else:  # the scratch pass chunked differently (say, an extraction timed out): all after
        pure_before, pure_after = 0.0, pure_embedding_seconds(settings, texts)
    pure = pure_before + pure_after
    # The plain baseline: sentence-transformers' encode in one process, on every 4th text of
    # the same length order (a quarter of the time; the rate is what is compared).
    sample = sorted(texts, key=len, reverse=True)[::4]
    single = pure_embedding_seconds(settings, sample, workers=1)
    steps.update()
    steps.set_postfix_str("no-op re-run")
    noop, noop_reports = timed(lambda: run_ingest(settings))
    steps.update()
    rng = random.Random(42)
    changed = change_documents(settings, 0.01, rng)
    steps.set_postfix_str("1% changed")
    change, change_reports = timed(lambda: run_ingest(settings))
    steps.update()
    deleted = delete_documents(settings, 0.01, rng)
    steps.set_postfix_str("1% deleted")
    delete, delete_reports = timed(lambda: run_ingest(settings))
    steps.update()
    steps.close()
    extract = reports["extracted_documents"]  # type: ignore[index]
    return {
        "folder": str(folder),
        "documents": extract["num_files"],
        "documents_failed": extract["num_documents_failed"],
        "failure_reasons": extract.get("failure_reasons", {}),
        "pages": extract["num_pages"],
        "chunks": num_chunks,
        "chunks_embedded": len(texts),
        "model_load_seconds": round(model_load, 1),
        "stage_seconds": {name: reports[name][key] for name, key in STAGES},  # type: ignore[index]
        "ingest_seconds": round(full, 1),
        "end_to_end_chunks_per_second": round(len(texts) / full, 2),
        "pure_embedding_seconds": round(pure, 1),
        "pure_embedding_chunks_per_second": round(len(texts) / pure, 2),
        "pure_embedding_split": split,
        "pure_embedding_seconds_before_ingest": round(pure_before, 1),
        "pure_embedding_seconds_after_ingest": round(pure_after, 1),
        "ingest_embed_seconds": reports["chunk_embeddings"]["embed_seconds"],  # type: ignore[index]
        "end_to_end_over_pure_embedding": round(pure / full, 3),
        "embedding_workers": settings.embedding_workers,
        "single_process_embedding_chunks_per_second": round(len(sample) / single, 2),
        "end_to_end_over_single_process_embedding": round(
            (len(texts) / full) / (len(sample) / single), 3),
        "noop_seconds": round(noop, 2),
        "noop_over_full": round(noop / full, 4),
        "noop_chunks_embedded": noop_reports["chunk_embeddings"]["num_chunks_embedded"],  # type: ignore[index]
        "change_1pct_documents": len(changed),
        "change_1pct_seconds": round(change, 2),
        "change_1pct_over_full": round(change / full, 4),
        "change_1pct_chunks_embedded":
            change_reports["chunk_embeddings"]["num_chunks_embedded"],  # type: ignore[index]
        "delete_1pct_documents": len(deleted),
        "delete_1pct_seconds": round(delete, 2),
        "delete_1pct_over_full": round(delete / full, 4),
        "delete_1pct_documents_deleted":
            delete_reports["extracted_documents"]["num_documents_deleted"],  # type: ignore[index]
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # The embedding and extraction workers, still running at the end.
        "worker_rss_mib": round(sum(p.memory_info().rss for p in
                                    psutil.Process().children(recursive=True)) / 2**20),
        "settings": str(settings.data_dir),
    }


def summary_lines(figures: dict) -> list[str]:
    lines = [f"documents {figures['documents']} ({figures['documents_failed']} failed), "
             f"pages {figures['pages']}, chunks {figures['chunks']} "
             f"({figures['chunks_embedded']} distinct contents embedded; the rates below count "
             "these)"]
    for name, seconds in figures["stage_seconds"].items():
        lines.append(f"  {name:<22} {seconds:>9.1f} s")
    lines += [
        f"ingest end-to-end      {figures['ingest_seconds']:>9.1f} s  "
        f"{figures['end_to_end_chunks_per_second']} chunks/s",
        f"pure embedding         {figures['pure_embedding_seconds']:>9.1f} s  "
        f"{figures['pure_embedding_chunks_per_second']} chunks/s (same texts, same run, "
        f"{figures['embedding_workers']} embedding worker processes as in the pipeline; "
        + (f"half before the ingest {figures['pure_embedding_seconds_before_ingest']} s, half "
           f"after {figures['pure_embedding_seconds_after_ingest']} s)"
           if figures["pure_embedding_split"] else "all after the ingest)"),
        f"end-to-end / pure      {figures['end_to_end_over_pure_embedding']:>9.3f}"
        "  (target >= 0.85)",
        f"single-process encode  {figures['single_process_embedding_chunks_per_second']:>9} "
        "chunks/s (sentence-transformers in one process, every 4th text); end-to-end / that "
        f"{figures['end_to_end_over_single_process_embedding']:.3f}",
        f"no-op re-run           {figures['noop_seconds']:>9.2f} s  = "
        f"{figures['noop_over_full']:.2%} of the full run (target <= 2%), "
        f"{figures['noop_chunks_embedded']} chunks embedded",
        f"1% changed ({figures['change_1pct_documents']} docs) "
        f"{figures['change_1pct_seconds']:>7.2f} s  = {figures['change_1pct_over_full']:.2%} "
        "(target <= 3%), "
        f"{figures['change_1pct_chunks_embedded']} chunks embedded",
        f"1% deleted ({figures['delete_1pct_documents']} docs) "
        f"{figures['delete_1pct_seconds']:>7.2f} s  = {figures['delete_1pct_over_full']:.2%}",
        f"model load {figures['model_load_seconds']:.1f} s (excluded), peak RSS "
        f"{figures['peak_rss_mib']} MiB, worker processes {figures['worker_rss_mib']} MiB",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    figures = measure(args.folder.resolve(), work_dir)
    sys.stdout.write("\n".join(summary_lines(figures)) + "\n")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
