"""Tune BM25 (k1, b) and the RRF constant on a dataset's train queries, by nDCG@10.

Each retriever runs once per query and parameter value: dense rankings do not depend on the
parameters, BM25 rankings depend on (k1, b) only, and fusion is recomputed from both lists, so
the grid costs seconds, not re-ingests. Only the train split is ever looked at here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from rag_pipeline.bm25_store import BM25Index, IndexText
from rag_pipeline.evaluation.beir import BeirDataset
from rag_pipeline.evaluation.metrics import best_chunk_per_document, ndcg_at_k
from rag_pipeline.search import CANDIDATES, Searcher, reciprocal_rank_fusion

logger = logging.getLogger(__name__)
K1_GRID = (0.6, 0.9, 1.2, 1.5)
B_GRID = (0.3, 0.4, 0.55, 0.75)
RRF_K_GRID = (5, 10, 20, 40, 60, 100)


@dataclass(frozen=True)
class TunedParameters:
    bm25_k1: float
    bm25_b: float
    rrf_k: int
    train_ndcg: dict[str, float]
    """Train nDCG@10 of each mode with the chosen parameters."""
    grid: dict[str, dict[str, float]]
    """Every value tried: "k1=0.9,b=0.4" -> bm25 nDCG@10; "rrf_k=60" -> hybrid nDCG@10."""


def _mean_ndcg(rankings: dict[str, list[str]], dataset: BeirDataset,
               document_of: Callable[[str], str]) -> float:
    scores = [ndcg_at_k(best_chunk_per_document([document_of(c) for c in ranked]),
                        dataset.qrels[query_id], 10)
              for query_id, ranked in rankings.items()]
    return round(float(np.mean(scores)), 4) if scores else 0.0


def tune(searcher: Searcher, train: BeirDataset, chunk_texts: Iterable[IndexText],
         document_of: Callable[[str], str], limit: int = CANDIDATES,
         progress: Callable[[str], None] = logger.info) -> TunedParameters:
    chunks = list(chunk_texts)
    dense = {q: [h.chunk.chunk_id for h in searcher.search(text, k=limit, mode="dense")]
             for q, text in train.queries.items()}
    progress(f"dense rankings for {len(dense)} train queries")
    grid: dict[str, dict[str, float]] = {"bm25": {}, "hybrid": {}}
    best: tuple[float, float, float] | None = None
    bm25_rankings: dict[tuple[float, float], dict[str, list[str]]] = {}
    for k1 in K1_GRID:
        for b in B_GRID:
            index = BM25Index.build(chunks, k1=k1, b=b)
            ranked = {q: [c for c, _ in index.search(text, limit)]
                      for q, text in train.queries.items()}
            bm25_rankings[(k1, b)] = ranked
            ndcg = _mean_ndcg(ranked, train, document_of)
            grid["bm25"][f"k1={k1},b={b}"] = ndcg
            if best is None or ndcg > best[0]:
                best = (ndcg, k1, b)
        progress(f"BM25 grid: k1={k1} done")
    assert best is not None
    _, k1, b = best
    sparse = bm25_rankings[(k1, b)]
    best_rrf: tuple[float, int] | None = None
    for rrf_k in RRF_K_GRID:
        fused = {q: [c for c, _ in reciprocal_rank_fusion([dense[q], sparse[q]], k=rrf_k)]
                 for q in train.queries}
        ndcg = _mean_ndcg(fused, train, document_of)
        grid["hybrid"][f"rrf_k={rrf_k}"] = ndcg
        if best_rrf is None or ndcg > best_rrf[0]:
            best_rrf = (ndcg, rrf_k)
    assert best_rrf is not None
    return TunedParameters(
        bm25_k1=k1, bm25_b=b, rrf_k=best_rrf[1],
        train_ndcg={"bm25": best[0], "dense": _mean_ndcg(dense, train, document_of),
                    "hybrid": best_rrf[0]},
        grid=grid,
    )
