"""The performance report, measured in one run: `make bench DOCS=../shared/data/corpus`.

python -m benchmarks.report FOLDER [--out-dir bench-results] [--sizes 5000,20000,50000,100000]
                                   [--no-peer] [--docs]

1. ingest FOLDER end to end, pure embedding of the same chunks, no-op / 1% changed / 1% deleted
   re-runs (benchmarks/bench_ingest.py);
2. query latency per mode at the indexed size and at each synthetic size
   (benchmarks/bench_latency.py);
3. the LangChain peer on the same files and model (benchmarks/bench_peer.py).
Writes report.json, report.png (seconds per stage, latency against size) and report.md into
--out-dir; --docs also copies the markdown and the plot to docs/performance.{md,png}.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import benchmarks.bench_ingest as bench_ingest
from benchmarks.bench_latency import SIZES, latency_at_indexed_size, latency_sweep
from rag_pipeline.ledger import Ledger
from rag_pipeline.search import MODES
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import pipeline_state

DOCS = Path(__file__).resolve().parent.parent / "docs"


def plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (stages_ax, latency_ax) = plt.subplots(1, 2, figsize=(13, 4.8))
    ingest = figures["ingest"]
    names = [*ingest["stage_seconds"], "pure embedding"]
    seconds = [*ingest["stage_seconds"].values(), ingest["pure_embedding_seconds"]]
    colors = ["#4c72b0"] * len(ingest["stage_seconds"]) + ["#dd8452"]
    stages_ax.barh(names, seconds, color=colors)
    stages_ax.invert_yaxis()
    stages_ax.set_xlabel("seconds")
    stages_ax.set_title(f"Ingest of {ingest['documents']} files, {ingest['chunks']:,} chunks: "
                        "seconds per stage")
    for y, value in enumerate(seconds):
        stages_ax.text(value, y, f" {value:.0f}", va="center", fontsize=8)
    sweep = {int(size): modes for size, modes in figures["latency"]["sweep"].items()}
    sizes = sorted(sweep)
    for mode in MODES:
        latency_ax.plot(sizes, [sweep[s][mode]["p50_ms"] for s in sizes], marker="o",
                        label=f"{mode} p50")
        latency_ax.plot(sizes, [sweep[s][mode]["p95_ms"] for s in sizes], marker="x",
                        linestyle="--", label=f"{mode} p95")
    latency_ax.set_xscale("log")
    latency_ax.set_xlabel("chunks in the index")
    latency_ax.set_ylabel("ms per query")
    latency_ax.set_title("Query latency against index size (local Qdrant, rank-bm25)")
    latency_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(figures: dict) -> str:
    ingest = figures["ingest"]
    lines = [
        "# Performance report",
        "",
        f"Measured in one run of `{figures['command']}` on {figures['machine']} "
        f"({figures['started']}); {figures['total_minutes']} minutes in all. Ratios are what "
        "to compare: the machine is shared and its absolute speed varies.",
        "",
        "![seconds per stage and latency against size](performance.png)",
        "",
        "## Ingest",
        "",
        f"{ingest['documents']} files ({ingest['documents_failed']} failed with a reason), "
        f"{ingest['pages']:,} pages, {ingest['chunks']:,} chunks "
        f"({ingest.get('chunks_embedded', ingest['chunks']):,} distinct texts embedded, which "
        "the rates count); peak RSS "
        f"{ingest['peak_rss_mib']:,} MiB, and {ingest['worker_rss_mib']:,} MiB in the embedding "
        "and extraction worker processes at the end.",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {name} | {value:.1f} |" for name, value in ingest["stage_seconds"].items()],
        f"| **end to end** | **{ingest['ingest_seconds']:.1f}** "
        f"({ingest['end_to_end_chunks_per_second']} chunks/s) |",
        f"| pure embedding of the same chunk texts | {ingest['pure_embedding_seconds']:.1f} "
        f"({ingest['pure_embedding_chunks_per_second']} chunks/s; {ingest['embedding_workers']} "
        "embedding worker processes, as in the pipeline; "
        + (f"half of the texts timed just before the ingest, "
           f"{ingest['pure_embedding_seconds_before_ingest']:.1f} s, and half just after, "
           f"{ingest['pure_embedding_seconds_after_ingest']:.1f} s"
           if ingest.get("pure_embedding_split") else "all timed after the ingest")
        + ") |",
        f"| embedding inside the ingest (chunk_embeddings' encode calls) | "
        f"{ingest['ingest_embed_seconds']:.1f} |",
        "| sentence-transformers encode in one process (every 4th chunk) | "
        f"- ({ingest['single_process_embedding_chunks_per_second']} chunks/s) |",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| end-to-end / pure embedding throughput | {ingest['end_to_end_over_pure_embedding']} "
        "| >= 0.85 |",
        "| end-to-end / one-process sentence-transformers encode | "
        f"{ingest['end_to_end_over_single_process_embedding']} | |",
        f"| no-op re-run | {ingest['noop_seconds']} s = {ingest['noop_over_full']:.2%} | "
        "<= 2% |",
        f"| 1% changed ({ingest['change_1pct_documents']} documents) | "
        f"{ingest['change_1pct_seconds']} s = {ingest['change_1pct_over_full']:.2%} "
        f"({ingest['change_1pct_chunks_embedded']} chunks embedded) | <= 3% |",
        f"| 1% deleted ({ingest['delete_1pct_documents']} documents) | "
        f"{ingest['delete_1pct_seconds']} s = {ingest['delete_1pct_over_full']:.2%} | |",
        "",
        "Failed documents by reason: " + (", ".join(
            f"{reason} {count}" for reason, count in sorted(
                ingest["failure_reasons"].items(), key=lambda item: -item[1])) or "none") + ".",
        "",
        "## Query latency",
        "",
        "| chunks | " + " | ".join(f"{m} p50 / p95 ms" for m in MODES) + " |",
        "|---" * (len(MODES) + 1) + "|",
    ]
    indexed = figures["latency"]["indexed"]
    lines.append(f"| {indexed['chunks']:,} (indexed, via Searcher) | " + " | ".join(
        f"{indexed[m]['p50_ms']} / {indexed[m]['p95_ms']}" for m in MODES) + " |")
    for size, modes in sorted(figures["latency"]["sweep"].items(), key=lambda x: int(x[0])):
        lines.append(f"| {int(size):,} (synthetic) | " + " | ".join(
            f"{modes[m]['p50_ms']} / {modes[m]['p95_ms']}" for m in MODES) + " |")
    peer = figures.get("peer")
    if peer:
        lines += [
            "",
            "## Against a peer (same files, same model, same run)",
            "",
            f"Peer: {peer['pipeline']} (`benchmarks/bench_peer.py`).",
            "",
            "| | this project | peer | ratio (peer / ours) |",
            "|---|---|---|---|",
            f"| full ingest, seconds | {ingest['ingest_seconds']} | {peer['full']['seconds']} | "
            f"{peer['full']['seconds'] / ingest['ingest_seconds']:.2f} |",
            f"| chunks | {ingest['chunks']:,} | {peer['full']['chunks']:,} | |",
            f"| chunks/s | {ingest['end_to_end_chunks_per_second']} | "
            f"{peer['chunks_per_second']} | "
            f"{peer['chunks_per_second'] / ingest['end_to_end_chunks_per_second']:.2f} |",
            f"| files failed | {ingest['documents_failed']} | {peer['full']['failed']} | |",
            f"| no-op re-run, seconds | {ingest['noop_seconds']} | {peer['noop']['seconds']} | "
            f"{peer['noop']['seconds'] / ingest['noop_seconds']:.1f} |",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out-dir", type=Path, default=Path("bench-results"))
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--no-peer", action="store_true", help="skip the LangChain peer")
    parser.add_argument("--docs", action="store_true",
                        help="also write docs/performance.md and docs/performance.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="rag-report-"))
    folder = args.folder.resolve()
    figures: dict[str, object] = {
        "command": "python -m benchmarks.report " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    ingest = bench_ingest.measure(folder, work_dir / "ours")
    figures["ingest"] = ingest
    sys.stderr.write("\n".join(bench_ingest.summary_lines(ingest)) + "\n")
    settings = replace(Settings.from_env(), source_dir=work_dir / "ours" / "documents",
                       data_dir=work_dir / "ours" / "data")
    sizes = tuple(int(s) for s in args.sizes.split(",") if s)
    figures["latency"] = {
        "indexed": latency_at_indexed_size(settings),
        "sweep": latency_sweep([c.text for c in Ledger(pipeline_state(settings)).iter_chunks()],
                               work_dir / "sweep", sizes),
    }
    if not args.no_peer:
        from benchmarks.bench_peer import run_peer

        figures["peer"] = run_peer(folder, work_dir / "peer")
    figures["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "report.json").write_text(json.dumps(figures, indent=2))
    plot(figures, args.out_dir / "performance.png")
    text = markdown(figures)
    (args.out_dir / "report.md").write_text(text)
    if args.docs:
        DOCS.mkdir(exist_ok=True)
        (DOCS / "performance.md").write_text(text)
        shutil.copy(args.out_dir / "performance.png", DOCS / "performance.png")
    sys.stdout.write(text)
    shutil.rmtree(work_dir / "sweep", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
