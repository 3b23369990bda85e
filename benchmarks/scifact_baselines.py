"""Why our SciFact figures differ from the published ones: the same retrievers without chunking.

Usage: python benchmarks/scifact_baselines.py ../shared/data/scifact [--split test]

Published nDCG@10 scores index whole documents (title + abstract): BM25 in Anserini/Lucene,
all-MiniLM-L6-v2 in MTEB with each document cut at the model's 256 word pieces. This script
scores exactly that set-up with this project's BM25 (Lucene IDF, stemming, stopwords) and the
packaged model (exact cosine search), next to the pipeline's chunked numbers from
`rag-pipeline eval`, so the effect of chunking is measured rather than guessed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.embedding import embedder_for
from rag_pipeline.evaluation.beir import load_beir
from rag_pipeline.evaluation.metrics import ndcg_at_k
from rag_pipeline.models import resolve_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    dataset = load_beir(args.dataset, args.split)
    ids = list(dataset.corpus)
    texts = [f"{title} {text}".strip() for title, text in dataset.corpus.values()]

    bm25 = BM25Index.build(zip(ids, texts, strict=True))
    bm25_ndcg = np.mean([ndcg_at_k([d for d, _ in bm25.search(q, 10)], dataset.qrels[qid], 10)
                         for qid, q in dataset.queries.items()])

    # The embedder is wrapped so that nothing is truncated; MTEB truncates, so call the
    # sentence-transformers backend directly, which cuts at max_seq_length (256).
    embedder = embedder_for(resolve_model("all-MiniLM-L6-v2")).backend
    vectors = np.concatenate([embedder.embed(texts[i : i + 256])
                              for i in tqdm(range(0, len(texts), 256), desc="embed corpus")])
    query_ids = list(dataset.queries)
    queries = embedder.embed([dataset.queries[q] for q in query_ids])
    scores = queries @ vectors.T  # the model normalises: cosine
    dense_ndcg = np.mean([
        ndcg_at_k([ids[i] for i in np.argsort(-scores[row])[:10]], dataset.qrels[qid], 10)
        for row, qid in enumerate(query_ids)])
    figures = {"split": args.split, "queries": len(query_ids),
               "bm25_whole_documents_ndcg@10": round(float(bm25_ndcg), 4),
               "dense_whole_documents_truncated_256_ndcg@10": round(float(dense_ndcg), 4),
               "published": {"bm25_anserini": 0.679, "bm25_beir_paper": 0.665,
                             "all-MiniLM-L6-v2_mteb": 0.645}}
    sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
