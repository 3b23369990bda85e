"""BM25 as Qdrant sparse vectors: the same score as the project's rank-bm25 index, inside Qdrant.

Qdrant's IDF modifier multiplies each query term's weight by log(1 + (N - n + 0.5) / (n + 0.5)),
Lucene's IDF over the collection's points, which is what `LuceneBM25` uses. The rest of Okapi
BM25 is a per-chunk weight, stored as the vector's value for the term:

    tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))

and a query vector holds each query term with its count, so the sparse dot product is the
rank-bm25 score term by term. k1, b and avgdl are fixed per collection when its first points
are written (`BM25Parameters`): a stored weight cannot follow a mean that moves.

Terms are sent as indices: the CRC-32 of the term's UTF-8 bytes. Two terms whose hashes collide
share a weight (about 1 pair in 8,600 among 1,000 distinct terms, 116 pairs among 1M); that
moves a score slightly and never loses a chunk. An application that queries the collection
with a plain Qdrant client needs only `query_vector` (or `query_terms` and `term_index`).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag_pipeline.analysis import bm25_terms, query_terms

SPARSE_VECTOR = "bm25"
"""The name of the sparse vector in every collection."""
DENSE_VECTOR = "dense"
"""The name of the dense vector in every collection."""


@dataclass(frozen=True)
class BM25Parameters:
    k1: float
    b: float
    avgdl: float
    """Mean number of BM25 terms per chunk, frozen when the collection was first written."""


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


def term_index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def mean_length(term_lists: Iterable[Sequence[str]]) -> float:
    lengths = [len(terms) for terms in term_lists]
    return sum(lengths) / len(lengths) if lengths else 1.0


def weights(terms: Sequence[str], parameters: BM25Parameters) -> SparseVector:
    """The chunk-side vector of a chunk's BM25 terms (one entry per distinct term index)."""
    k1, b = parameters.k1, parameters.b
    norm = k1 * (1 - b + b * len(terms) / max(parameters.avgdl, 1e-9))
    by_index: dict[int, float] = {}
    for term, tf in Counter(terms).items():
        index = term_index(term)
        by_index[index] = by_index.get(index, 0.0) + tf * (k1 + 1) / (tf + norm)
    ordered = sorted(by_index)
    return SparseVector(ordered, [by_index[i] for i in ordered])


def document_vector(text: str, language: str | None, parameters: BM25Parameters) -> SparseVector:
    return weights(bm25_terms(text, language), parameters)


def query_vector(query: str, languages: Iterable[str | None] = ("en",)) -> SparseVector:
    """The sparse query for a collection whose chunks are in `languages` (each term weighted by
    its count, as rank-bm25 scores a repeated query term once per occurrence)."""
    counts: Counter[int] = Counter(term_index(t) for t in query_terms(query, languages))
    ordered = sorted(counts)
    return SparseVector(ordered, [float(counts[i]) for i in ordered])
