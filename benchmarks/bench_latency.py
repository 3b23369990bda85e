"""Query latency per mode: at the indexed size (the real Searcher over an ingested data folder)
and at 5k/20k/50k/100k chunks (synthetic chunks in a scratch folder).

Usage: python benchmarks/bench_latency.py [--data-dir DIR --source-dir DIR] [--sizes 5000,...]

The sweep's chunk texts are real chunk texts reshuffled sentence by sentence (so BM25 sees a
natural term distribution) and its vectors are random unit vectors (local Qdrant scans every
vector, so their values do not change its cost). Queries are embedded by the real model, and
each mode runs what `Searcher.search` runs: dense = query embedding + Qdrant query, bm25 =
candidate scoring, hybrid = both + reciprocal rank fusion.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag_pipeline.analysis import bm25_terms
from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.embedding import embedder_for
from rag_pipeline.ledger import Ledger
from rag_pipeline.models import resolve_model
from rag_pipeline.qdrant_store import QdrantStore
from rag_pipeline.search import CANDIDATES, MODES, Searcher, reciprocal_rank_fusion
from rag_pipeline.settings import Settings
from rag_pipeline.sparse_bm25 import BM25Parameters, weights
from rag_pipeline.state_database import pipeline_state

QUERIES = [
    "how do I configure logging", "error when the connection times out", "table of results",
    "installation on windows", "what is the license", "performance of the algorithm",
    "how to parse a date string", "memory usage of the process", "security of passwords",
    "difference between a list and a tuple", "network protocol specification",
    "how are images compressed", "definition of a function", "unicode encoding of text",
    "release notes for the new version", "how to read a csv file",
]
SIZES = (5_000, 20_000, 50_000, 100_000)
ROUNDS = 3


def percentiles(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1)}


def time_queries(run: Callable[[str], object], rounds: int = ROUNDS) -> dict[str, float]:
    run(QUERIES[0])  # warm caches
    values = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            run(query)
            values.append((time.perf_counter() - started) * 1000)
    return percentiles(values)


def latency_at_indexed_size(settings: Settings) -> dict[str, object]:
    """Through the real Searcher, with one open of the store (a long-lived reader)."""
    searcher = Searcher(settings)
    with searcher.services.qdrant.holding():
        modes = {mode: time_queries(lambda q, m=mode: searcher.search(q, k=10, mode=m))
                 for mode in MODES}
    return {"chunks": Ledger(pipeline_state(settings)).num_chunks(), **modes}


def synthetic_texts(source_texts: list[str], count: int, rng: random.Random) -> list[str]:
    sentences = [s.strip() for t in source_texts for s in t.replace("\n", " ").split(". ")
                 if len(s.split()) >= 4]
    if not sentences:
        raise ValueError("no source sentences to build synthetic chunks from")
    return [". ".join(rng.choices(sentences, k=rng.randint(4, 9))) for _ in range(count)]


def latency_sweep(source_texts: list[str], scratch: Path, sizes: tuple[int, ...] = SIZES,
                  model: str | None = None) -> dict[int, dict[str, dict[str, float]]]:
    spec = resolve_model(model or Settings.from_env().embedding_model)
    embedder = embedder_for(spec)
    dimension = embedder.dimension
    rng = random.Random(7)
    vectors_rng = np.random.default_rng(7)
    texts = synthetic_texts(source_texts, max(sizes), rng)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(texts))]
    store = QdrantStore(path=scratch / "qdrant")
    parameters = BM25Parameters(0.9, 0.4, 60.0)  # the sweep times rank-bm25, not these
    collection = "latency_sweep"
    results: dict[int, dict[str, dict[str, float]]] = {}
    indexed = 0
    with store.holding():
        store.ensure_collection(collection, dimension)
        for size in tqdm(sorted(sizes), desc="latency sweep", unit="size"):
            for start in range(indexed, size, 5_000):
                end = min(start + 5_000, size)
                vectors = vectors_rng.standard_normal((end - start, dimension)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                store.upsert(collection, ids[start:end], vectors,
                             [{"document_id": f"doc{i // 20}", "text": texts[i], "shard": "00"}
                              for i in range(start, end)],
                             [weights(bm25_terms(texts[i], "en"), parameters)
                              for i in range(start, end)])
            indexed = size
            bm25 = BM25Index.build(zip(ids[:size], texts[:size], strict=True))

            def dense(query: str) -> list[str]:
                vector = embedder.embed([query])[0]
                return [str(p.id) for p in store.query(vector, CANDIDATES,
                                                       collection=collection)]

            def sparse(query: str, index: BM25Index = bm25) -> list[str]:
                return [c for c, _ in index.search(query, CANDIDATES)]

            results[size] = {
                "dense": time_queries(dense),
                "bm25": time_queries(sparse),
                "hybrid": time_queries(
                    lambda q: reciprocal_rank_fusion([dense(q), sparse(q)])[:10]),
            }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="an ingested data folder to measure")
    parser.add_argument("--source-dir", type=Path, help="its source folder")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures: dict[str, object] = {}
    source_texts: list[str] = []
    if args.data_dir:
        settings = replace(Settings.from_env(), data_dir=args.data_dir,
                           source_dir=args.source_dir or args.data_dir)
        figures["indexed"] = latency_at_indexed_size(settings)
        source_texts = [c.text for c in Ledger(pipeline_state(settings)).iter_chunks()]
    if not source_texts:
        source_texts = [p.read_text(errors="replace") for p in Path("inbox").glob("*.md")]
    sizes = tuple(int(s) for s in args.sizes.split(",") if s)
    with tempfile.TemporaryDirectory(prefix="rag-latency-") as scratch:
        figures["sweep"] = latency_sweep(source_texts, Path(scratch), sizes)
    sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
