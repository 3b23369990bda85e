"""The index at scale: Qdrant Edge (the embedded default) at 100k to 1M chunks.

Usage: python -m benchmarks.bench_scale --chunks 100000,300000,1000000 --json OUT.json
       [--dataset ../shared/data/scifact] [--work-dir DIR] [--base 2000] [--queries 200]
       [--keep]

With --keep, each size's index stays in the work folder with a record of its build, and a
later run on the same folder measures it again without rebuilding (a 1M build is about an
hour here, most of it HNSW).

Chunks are SciFact passages (abstracts cut into pieces of about 60 words), repeated with
variation: each copy drops a tenth of its base passage's BM25 terms at random and gains one
term of its own, and its vector is the base passage's real all-MiniLM-L6-v2 vector plus
Gaussian noise (cosine about 0.9 to it), renormalised. Queries are SciFact claims, embedded by
the same model. For each size: write throughput, optimize (HNSW) seconds, disk bytes, the
resident memory of a searcher, cold `rag-pipeline search` (process start to answer, model load
included, with the query graph a published collection has; three runs), p50/p95 of hybrid,
dense and BM25 queries in one long-lived searcher (hybrid also on its first pass after the open,
while the memory-mapped collection's pages are read in), HNSW recall@10 against exact search
(and dense latency) at several `hnsw_ef`, and rank-bm25's p50/p95 for BM25 up to 300k chunks
(the figures behind RAG_KEYWORD_INDEX=auto), and hybrid
p50/p95 with a metadata filter on a fifth and on a fiftieth of the chunks.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from rag_pipeline.analysis import bm25_terms
from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.edge_store import HNSW_EF, EdgeStore
from rag_pipeline.embedding import embedder_for
from rag_pipeline.filters import SearchFilter
from rag_pipeline.models import resolve_model
from rag_pipeline.query_graph import export_query_graph
from rag_pipeline.search import CANDIDATES
from rag_pipeline.settings import DEFAULT_EMBEDDING_MODEL
from rag_pipeline.sparse_bm25 import BM25Parameters, mean_length, query_vector, weights

WRITE_BATCH = 20_000
RANK_BM25_MAX = 300_000
EF_SWEEP = sorted({HNSW_EF, 128, 512, 1024})
"""`hnsw_ef` values whose recall@10 and dense latency are measured on each index."""
NOISE = 0.025
"""Per-dimension noise on unit 384-d vectors: cosine to the base vector about 0.9."""


def passages(dataset: Path, words: int = 60) -> list[str]:
    texts = []
    with (dataset / "corpus.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            tokens = f"{record.get('title', '')}. {record['text']}".split()
            texts += [" ".join(tokens[i : i + words]) for i in range(0, len(tokens), words)
                      if len(tokens[i : i + words]) >= 10]
    return texts


def claims(dataset: Path, n: int) -> list[str]:
    with (dataset / "queries.jsonl").open() as handle:
        return [json.loads(line)["text"] for line in handle][:n]


TYPES = ("pdf", "docx", "html", "md", "txt")
WIDE_FILTER = SearchFilter(types=("pdf",))
"""A fifth of the chunks."""
NARROW_FILTER = SearchFilter(types=("pdf",), folders=("area3/",), tags=("team=hr",))
"""About one chunk in 50 (type and folder vary independently; every chunk has the tag)."""


def payload(chunk_id: str, text: str, i: int) -> dict[str, object]:
    """A chunk's payload as the pipeline writes it, document facts included (the filters
    run on those fields' payload indexes)."""
    document_id = f"doc-{i // 8}"
    return {"document_id": document_id, "shard": f"{i % 16:02d}",
            "source_path": f"scifact/{document_id}.txt", "text": text, "chunk_index": i % 8,
            "page_numbers": [], "section_title": None, "char_start": 0,
            "char_end": len(text), "content_hash": chunk_id[:16], "num_tokens": 80,
            "language": "en", "type": TYPES[(i // 80) % 5], "folders": [f"area{i % 10}/"],
            "size_bytes": 4096, "modified_at": 1_700_000_000 + i, "num_pages": None,
            "title": document_id, "tags": ["team=hr"]}


def generate(size: int, base_texts: list[str], base_terms: list[list[str]],
             base_vectors: np.ndarray, seed: int) -> tuple[list[str], list[str],
                                                            list[list[str]], np.ndarray]:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    ids, texts, terms = [], [], []
    picks = rng.integers(0, len(base_texts), size)
    for i, b in enumerate(picks.tolist()):
        own = f"variant{i % 50_000}"
        kept = [t for t in base_terms[b] if pick.random() >= 0.1]
        ids.append(str(uuid.UUID(int=i + 1)))
        texts.append(f"{base_texts[b]} {own}")
        terms.append([*kept, own])
    vectors = base_vectors[picks] + rng.normal(0, NOISE, (size, base_vectors.shape[1]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ids, texts, terms, vectors.astype(np.float32)


def percentiles(values: list[float]) -> tuple[float, float]:
    return (round(float(np.percentile(values, 50)), 2), round(float(np.percentile(values, 95)), 2))


def timed(fn, queries: list) -> tuple[float, float]:  # noqa: ANN001
    fn(queries[0])
    values = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        values.append((time.perf_counter() - started) * 1000)
    return percentiles(values)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


COLD_SEARCHES = 3


def cold_search(data_dir: Path, queries: list[str]) -> list[float]:
    """Seconds from process start to answer of `rag-pipeline search`, once per query (each a
    new process; the collection's pages stay in the page cache between them)."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_KEYWORD_INDEX": "qdrant",
           "RAG_QDRANT_EMBEDDED": "edge"}
    seconds = []
    for query in queries:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "rag_pipeline.cli", "search", query,
                                 "-k", "5"], env=env, capture_output=True, text=True,
                                timeout=600)
        seconds.append(round(time.perf_counter() - started, 2))
        if result.returncode != 0:
            raise RuntimeError(f"rag-pipeline search failed: {result.stderr[-2000:]}")
    return seconds


def searcher_rss_mb(data_dir: Path, collection: str, query_vectors: np.ndarray) -> float:
    """Resident memory of a fresh process that opened the collection and answered queries."""
    code = (
        "import numpy as np\n"
        "from pathlib import Path\n"
        "from rag_pipeline.edge_store import EdgeStore\n"
        "from rag_pipeline.sparse_bm25 import query_vector\n"
        f"store = EdgeStore(path=Path({str(data_dir / 'qdrant-edge')!r}))\n"
        f"vectors = np.load({str(data_dir / 'queries.npy')!r})\n"
        "sparse = query_vector('protein gene')\n"
        "with store.holding():\n"
        "    for v in vectors:\n"
        f"        store.query_hybrid(v, sparse, 10, 100, 60, {collection!r})\n"
        "status = Path('/proc/self/status').read_text()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) / 1024)\n")
    np.save(data_dir / "queries.npy", query_vectors)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return round(float(out.strip().splitlines()[-1]), 1)


def build(store: EdgeStore, collection: str, size: int, base: tuple
          ) -> tuple[list[str], list[str] | None, float, float, float]:
    """Write and optimize the index; returns its ids, its texts (only where rank-bm25 is
    measured), BM25's mean length, write and optimize seconds. The vectors and sparse weights
    are dropped on return."""
    base_texts, base_terms, base_vectors = base
    ids, texts, terms, vectors = generate(size, base_texts, base_terms, base_vectors, size)
    parameters = BM25Parameters(0.9, 0.4, mean_length(terms))
    sparse = [weights(t, parameters) for t in terms]
    del terms
    store.ensure_collection(collection, vectors.shape[1])
    started = time.perf_counter()
    for lo in range(0, size, WRITE_BATCH):
        hi = min(lo + WRITE_BATCH, size)
        store.upsert(collection, ids[lo:hi], vectors[lo:hi],
                     [payload(ids[i], texts[i], i) for i in range(lo, hi)], sparse[lo:hi],
                     optimize=False)
    write_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store.optimize(collection)
    optimize_seconds = time.perf_counter() - started
    store.point_alias(collection)
    return (ids, texts if size <= RANK_BM25_MAX else None, parameters.avgdl, write_seconds,
            optimize_seconds)


def built(store: EdgeStore, collection: str, size: int, base: tuple, data_dir: Path,
          keep: bool) -> tuple[list[str], list[str] | None, float, float, float]:
    """`build`'s answer, from the record a kept build left when there is one."""
    record = data_dir / "build.json"
    if keep and record.exists():
        facts = json.loads(record.read_text())
        ids, texts = None, None
        if size <= RANK_BM25_MAX:  # rank-bm25 needs the texts: generate them again
            ids, texts, _, _ = generate(size, *base, size)
        return ids, texts, facts["avgdl"], facts["write_s"], facts["optimize_s"]
    shutil.rmtree(data_dir, ignore_errors=True)
    ids, texts, avgdl, write_seconds, optimize_seconds = build(store, collection, size, base)
    if keep:
        record.write_text(json.dumps({"avgdl": avgdl, "write_s": write_seconds,
                                      "optimize_s": optimize_seconds}))
    return ids, texts, avgdl, write_seconds, optimize_seconds


def measure(size: int, work: Path, base: tuple, queries: list[str],
            query_vectors: np.ndarray, keep: bool = False) -> dict[str, object]:
    data_dir = work / f"data-{size}"
    store = EdgeStore(path=data_dir / "qdrant-edge")
    collection = "bench"
    ids, texts, avgdl, write_seconds, optimize_seconds = built(store, collection, size, base,
                                                               data_dir, keep)
    gc.collect()  # the generated points (GBs at 1M) must not squeeze the searchers' page cache
    sparse_queries = [query_vector(q) for q in queries]
    row: dict[str, object] = {
        "chunks": size,
        "write_points_per_s": round(size / write_seconds),
        "optimize_s": round(optimize_seconds, 1),
        "disk_bytes": folder_bytes(data_dir / "qdrant-edge"),
    }
    with store.holding():  # one long-lived searcher
        started = time.perf_counter()
        store.count(collection)
        row["open_s"] = round(time.perf_counter() - started, 3)
        pairs = list(zip(query_vectors, sparse_queries, strict=True))
        # A collection is memory-mapped: the first queries read in the pages they touch (graph,
        # vectors, postings, payload indexes). Timed once as such, then again as a searcher
        # that has served queries answers them.
        row["hybrid_first_pass_p50_ms"], row["hybrid_first_pass_p95_ms"] = timed(
            lambda p: store.query_hybrid(p[0], p[1], 10, CANDIDATES, 60, collection), pairs)
        for where in (WIDE_FILTER, NARROW_FILTER):
            timed(lambda p, w=where: store.query_hybrid(p[0], p[1], 10, CANDIDATES, 60,
                                                        collection, where=w), pairs)
        row["hybrid_p50_ms"], row["hybrid_p95_ms"] = timed(
            lambda p: store.query_hybrid(p[0], p[1], 10, CANDIDATES, 60, collection), pairs)
        for name, where in (("wide", WIDE_FILTER), ("narrow", NARROW_FILTER)):
            row[f"hybrid_{name}_filter_p50_ms"], row[f"hybrid_{name}_filter_p95_ms"] = timed(
                lambda p, w=where: store.query_hybrid(p[0], p[1], 10, CANDIDATES, 60,
                                                      collection, where=w), pairs)
        row["dense_p50_ms"], row["dense_p95_ms"] = timed(
            lambda p: store.query(p[0], 10, collection), pairs)
        row["bm25_p50_ms"], row["bm25_p95_ms"] = timed(
            lambda p: store.query_sparse(p[1], 10, collection), pairs)
        exact = [{h.id for h in store.query(v, 10, collection, exact=True)}
                 for v in query_vectors]
        configured = store.hnsw_ef
        for ef in EF_SWEEP:  # the query-time trade of latency for recall, same graph
            store.hnsw_ef = ef
            found = [{h.id for h in store.query(v, 10, collection)} for v in query_vectors]
            recall = round(float(np.mean([len(f & e) / len(e) for f, e
                                          in zip(found, exact, strict=True)])), 4)
            row[f"recall_at_10_ef{ef}"] = recall
            row[f"dense_ef{ef}_p50_ms"], row[f"dense_ef{ef}_p95_ms"] = timed(
                lambda p: store.query(p[0], 10, collection), pairs)
            if ef == configured:
                row["recall_at_10"] = recall
        store.hnsw_ef = configured
    row["searcher_rss_mb"] = searcher_rss_mb(data_dir, collection, query_vectors[:50])
    # As a published collection has it: the query graph searches embed with (no torch).
    export_query_graph(resolve_model(DEFAULT_EMBEDDING_MODEL))
    runs = cold_search(data_dir, queries[:COLD_SEARCHES])
    row["cold_search_runs_s"] = runs
    row["cold_search_s"] = float(np.median(runs))
    if texts is not None and ids is not None:
        started = time.perf_counter()
        index = BM25Index.build(zip(ids, texts, ["en"] * size, strict=True), avgdl=avgdl)
        row["rank_bm25_build_s"] = round(time.perf_counter() - started, 1)
        row["rank_bm25_p50_ms"], row["rank_bm25_p95_ms"] = timed(
            lambda q: index.search(q, CANDIDATES), queries)
        path = data_dir / "bm25.npz"
        index.save(path)
        started = time.perf_counter()
        BM25Index.load(path)
        row["rank_bm25_load_s"] = round(time.perf_counter() - started, 2)
        path.unlink()
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return row


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(r["chunks"]) for r in rows]  # type: ignore[call-overload]
    figure, axis = plt.subplots(figsize=(7, 4))
    for key, label in (("hybrid_p95_ms", "hybrid p95 (Edge, one Query API call)"),
                       ("hybrid_p50_ms", "hybrid p50"), ("dense_p95_ms", "dense p95"),
                       ("bm25_p95_ms", "BM25 p95 (sparse vectors)")):
        axis.plot(sizes, [r[key] for r in rows], marker="o", label=label)
    rank_bm25 = [(int(r["chunks"]), r["rank_bm25_p95_ms"]) for r in rows  # type: ignore[call-overload]
                 if "rank_bm25_p95_ms" in r]
    if rank_bm25:
        axis.plot(*zip(*rank_bm25, strict=True), marker="s", linestyle="--",
                  label="BM25 p95 (rank-bm25 file)")
    axis.axhline(50, color="grey", linewidth=0.8, linestyle=":", label="target: hybrid p95 50 ms")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("chunks")
    axis.set_ylabel("ms per query (index only)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="100000,300000,1000000")
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--base", type=int, default=4000, help="passages embedded for real")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="embedding processes")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None, help="a PNG of latency by size")
    parser.add_argument("--keep", action="store_true",
                        help="keep each index in the work folder and reuse a kept one")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    texts = passages(args.dataset)
    random.Random(0).shuffle(texts)
    base_texts = texts[: args.base]
    embedder = embedder_for(resolve_model(DEFAULT_EMBEDDING_MODEL), 64, workers=args.workers)
    cached = work / f"base-{len(base_texts)}.npy"  # embedded once per work folder
    if not cached.exists():
        np.save(cached, np.asarray(embedder.embed(base_texts), dtype=np.float32))
    base_vectors = np.load(cached)
    base_terms = [bm25_terms(t, "en") for t in base_texts]
    queries = [q for q in claims(args.dataset, args.queries) if re.search(r"\w", q)]
    query_vectors = np.asarray(embedder.embed(queries), dtype=np.float32)
    rows = []
    for size in (int(s) for s in args.chunks.split(",")):
        row = measure(size, work, (base_texts, base_terms, base_vectors), queries,
                      query_vectors, keep=args.keep)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
    keys = ["chunks", "write_points_per_s", "optimize_s", "disk_bytes", "open_s",
            "hybrid_first_pass_p95_ms", "hybrid_p50_ms", "hybrid_p95_ms",
            "hybrid_wide_filter_p95_ms",
            "hybrid_narrow_filter_p95_ms", "dense_p95_ms", "bm25_p95_ms", "recall_at_10",
            "searcher_rss_mb", "cold_search_s", "rank_bm25_p95_ms"]
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row.get(k, "")) for k in keys))
    if args.plot:
        plot(rows, args.plot)
    print(f"max RSS of this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
