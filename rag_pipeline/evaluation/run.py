"""`rag-pipeline eval`: ingest a BEIR corpus through the pipeline, score every query per mode."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag_pipeline.evaluation.beir import BeirDataset, load_beir, write_corpus
from rag_pipeline.evaluation.metrics import (
    best_chunk_per_document,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)
from rag_pipeline.evaluation.tuning import TunedParameters, tune
from rag_pipeline.search import MODES, Mode, Searcher
from rag_pipeline.settings import Settings

logger = logging.getLogger(__name__)
CHUNK_HITS = 300
"""Chunk hits taken per query: enough to fill the top 100 documents."""


@dataclass(frozen=True)
class EvalConfig:
    dataset: Path
    work_dir: Path
    split: str = "test"
    max_queries: int | None = None
    rrf_k: int | None = None
    """None: the settings' RAG_RRF_K (or the tuned value)."""
    tune: bool = False
    """Tune BM25 k1/b and the RRF constant on the train split first, then score `split`."""


@dataclass(frozen=True)
class EvalReport:
    results: dict[str, dict]
    """mode -> metrics on `split`, with the tuned parameters when tuning ran."""
    parameters: dict[str, float]
    tuning: TunedParameters | None = None
    untuned: dict[str, dict] | None = None
    """mode -> metrics on `split` with the parameters before tuning."""


def score(searcher: Searcher, dataset: BeirDataset, names: dict[str, str], mode: Mode,
          rrf_k: int | None) -> dict[str, float]:
    metrics: dict[str, list[float]] = {"ndcg@10": [], "recall@10": [], "recall@100": [],
                                       "mrr@10": []}
    latencies: list[float] = []
    for query_id, text in dataset.queries.items():
        started = time.perf_counter()
        hits = searcher.search(text, k=CHUNK_HITS, mode=mode, candidates=CHUNK_HITS,
                               rrf_k=rrf_k)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = best_chunk_per_document(
            [names.get(Path(h.chunk.source_path).name, h.chunk.source_path) for h in hits])
        relevant = dataset.qrels[query_id]
        metrics["ndcg@10"].append(ndcg_at_k(ranked, relevant, 10))
        metrics["recall@10"].append(recall_at_k(ranked, relevant, 10))
        metrics["recall@100"].append(recall_at_k(ranked, relevant, 100))
        metrics["mrr@10"].append(mrr_at_k(ranked, relevant, 10))
    result = {name: round(float(np.mean(values)), 4) for name, values in metrics.items()}
    result["p50_ms"] = round(float(np.percentile(latencies, 50)), 1)
    result["p95_ms"] = round(float(np.percentile(latencies, 95)), 1)
    result["num_queries"] = len(latencies)
    return result


def evaluate(config: EvalConfig, settings: Settings | None = None) -> EvalReport:
    from assets.ingest_run import run_ingest

    dataset = _limited(load_beir(config.dataset, config.split), config.max_queries)
    source = config.work_dir / "documents"
    names = write_corpus(dataset, source)
    base = settings or Settings.from_env()
    settings = replace(base, source_dir=source, data_dir=config.work_dir / "data",
                       golden_set=None)
    if config.rrf_k:
        settings = replace(settings, rrf_k=config.rrf_k)
    started = time.perf_counter()
    reports = run_ingest(settings)
    logger.info("ingested %d documents in %.0f s (%s chunks embedded)", len(names),
                time.perf_counter() - started,
                reports.get("chunk_embeddings", {}).get("num_chunks_embedded"))
    results = _score_all(settings, dataset, names)
    if not config.tune:
        return EvalReport(results, _parameters(settings))
    train = _limited(load_beir(config.dataset, "train"), config.max_queries)
    searcher = Searcher(settings)
    chunks = list(searcher.services.ledger.iter_chunks())
    chunk_document = {c.chunk_id: names.get(Path(c.source_path).name, c.source_path)
                      for c in chunks}
    with searcher.services.qdrant.holding():
        tuned = tune(searcher, train, searcher.services.ledger.index_texts(),
                     chunk_document.__getitem__, limit=CHUNK_HITS)
    logger.info("tuned on %d train queries: k1=%s b=%s rrf_k=%s", len(train.queries),
                tuned.bm25_k1, tuned.bm25_b, tuned.rrf_k)
    tuned_settings = replace(settings, bm25_k1=tuned.bm25_k1, bm25_b=tuned.bm25_b,
                             rrf_k=tuned.rrf_k)
    run_ingest(tuned_settings)  # nothing to embed: rebuilds BM25 with the tuned k1 and b
    return EvalReport(_score_all(tuned_settings, dataset, names), _parameters(tuned_settings),
                      tuning=tuned, untuned=results)


def _limited(dataset: BeirDataset, max_queries: int | None) -> BeirDataset:
    if not max_queries:
        return dataset
    keep = sorted(dataset.queries)[:max_queries]
    return replace(dataset, queries={q: dataset.queries[q] for q in keep})


def _parameters(settings: Settings) -> dict[str, float]:
    return {"bm25_k1": settings.bm25_k1, "bm25_b": settings.bm25_b, "rrf_k": settings.rrf_k}


def _score_all(settings: Settings, dataset: BeirDataset,
               names: dict[str, str]) -> dict[str, dict]:
    searcher = Searcher(settings)
    # One open of the store for all queries (a long-lived searcher, not one process per query;
    # local mode loads the collection on every open), and the model and BM25 loaded before timing.
    with searcher.services.qdrant.holding():
        searcher.search("warm-up", k=1, mode="hybrid")
        return {mode: score(searcher, dataset, names, mode, None) for mode in MODES}


def markdown_table(results: dict[str, dict]) -> str:
    columns = ["ndcg@10", "recall@10", "recall@100", "mrr@10", "p50_ms", "p95_ms"]
    lines = ["| mode | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for mode, values in results.items():
        lines.append(f"| {mode} | " + " | ".join(str(values[c]) for c in columns) + " |")
    return "\n".join(lines)
