"""Extraction of many short documents: documents/s per format through the pipeline's workers.

Usage: python -m benchmarks.bench_extraction [--documents 5000] [--formats md,txt,html]
       [--beir ../shared/data/scifact] [--json OUT.json]

Enterprise corpora are mostly short documents (tickets, emails, wiki pages), where the cost per
file, not per page, decides. Each format gets `--documents` one-paragraph documents with a
title, written as `rag-pipeline eval` writes a BEIR corpus (title + abstract from `--beir`, or
generated sentences), extracted by `extract_isolated` with RAG_EXTRACT_WORKERS processes after
the pool has warmed up (its start-up is reported apart).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract.isolation import ExtractionLimits, extract_isolated
from rag_pipeline.ids import document_id_for
from rag_pipeline.records import DocumentFailure, SourceFile
from rag_pipeline.settings import Settings

WORDS = ("the customer reported that the invoice was charged twice after the upgrade and the "
         "refund did not arrive support checked the account logs and found a retry in the "
         "billing service").split()


def generated_documents(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 22))).capitalize() + "."

    return [(f"Ticket {i}: {sentence()[:40]}",
             " ".join(sentence() for _ in range(rng.randint(3, 8)))) for i in range(count)]


def beir_documents(folder: Path, count: int) -> list[tuple[str, str]]:
    documents = []
    with (folder / "corpus.jsonl").open() as corpus:
        for line in corpus:
            row = json.loads(line)
            documents.append((row.get("title", ""), row.get("text", "")))
            if len(documents) >= count:
                break
    return documents


def write(folder: Path, kind: str, documents: list[tuple[str, str]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (title, text) in enumerate(documents):
        path = folder / f"doc-{i:05d}.{kind}"
        if kind == "md":
            path.write_text(f"# {title}\n\n{text}\n")
        elif kind == "html":
            path.write_text(f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
                            f"<p>{text}</p></body></html>")
        else:
            path.write_text(f"{title}\n\n{text}\n")
        paths.append(path)
    return paths


def pending(path: Path, root: Path) -> PendingFile:
    relative = path.relative_to(root).as_posix()
    stat = path.stat()
    return PendingFile(SourceFile(path, relative, document_id_for(relative), "00", stat.st_size,
                                  stat.st_mtime_ns), "0" * 64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--formats", default="md,txt,html")
    parser.add_argument("--beir", type=Path, help="a BEIR folder whose corpus gives the texts")
    parser.add_argument("--workers", type=int, default=Settings.from_env().extract_workers)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    documents = (beir_documents(args.beir, args.documents) if args.beir
                 else generated_documents(args.documents))
    limits = ExtractionLimits(workers=args.workers)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as scratch:
        root = Path(scratch)
        warm = write(root / "warm-up", "md", documents[: args.workers])
        started = time.perf_counter()
        list(extract_isolated([pending(p, root) for p in warm], limits))
        warm_up = time.perf_counter() - started
        for kind in args.formats.split(","):
            batch = [pending(p, root) for p in write(root / kind, kind, documents)]
            started = time.perf_counter()
            results = list(extract_isolated(batch, limits))
            seconds = time.perf_counter() - started
            failed = [r for r in results if isinstance(r, DocumentFailure)]
            types = Counter(e.element_type for r in results if not isinstance(r, DocumentFailure)
                            for e in r.elements)
            row = {"format": kind, "documents": len(batch), "workers": args.workers,
                   "seconds": round(seconds, 2),
                   "documents_per_s": round(len(batch) / seconds, 1),
                   "failed": len(failed), "element_types": dict(types.most_common()),
                   "pool_warm_up_seconds": round(warm_up, 2),
                   "texts": str(args.beir) if args.beir else "generated"}
            rows.append(row)
            sys.stderr.write(json.dumps(row) + "\n")
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
