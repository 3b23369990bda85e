"""nDCG@k, recall@k and MRR@k over ranked document ids (as BEIR / pytrec_eval compute them)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def best_chunk_per_document(chunk_documents: Sequence[str]) -> list[str]:
    """Chunk hits in rank order -> documents in rank order, each at its best chunk's rank."""
    seen: set[str] = set()
    ranked = []
    for document in chunk_documents:
        if document not in seen:
            seen.add(document)
            ranked.append(document)
    return ranked
