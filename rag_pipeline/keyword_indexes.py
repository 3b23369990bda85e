"""The keyword indexes a search can use, and which one RAG_KEYWORD_INDEX picks.

Both hold the same BM25 (Lucene IDF, the project's analysis, k1/b and the collection's mean
length), so the choice is about speed and reach, not ranking: rank-bm25's file is read whole
by every searcher and scans in Python, Qdrant's sparse vectors are searched by the engine and
are what any other Qdrant client queries. `auto` takes rank-bm25 only on qdrant-client's local
mode, whose sparse search is itself a Python scan; docs/performance.md has the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rag_pipeline.bm25_store import RankBM25File
from rag_pipeline.filters import SearchFilter
from rag_pipeline.ports import Hit, KeywordIndex, VectorIndex
from rag_pipeline.settings import Settings
from rag_pipeline.sparse_bm25 import query_vector

CHOICES = ("auto", "rank-bm25", "qdrant")


class SparseVectorKeywords:
    """The keyword index port on a collection's sparse `bm25` vectors (IDF by the engine)."""

    name = "qdrant"

    def __init__(self, store: VectorIndex, collection: Callable[[], str | None],
                 languages: Callable[[], Sequence[str | None]],
                 where: SearchFilter | None = None) -> None:
        self.store = store
        self._collection = collection
        self._languages = languages
        self._where = where

    def search(self, query: str, limit: int) -> list[Hit]:
        if self.store.is_local and not self.store.path.exists():
            raise LookupError("the Qdrant index does not exist yet")
        return self.store.query_sparse(query_vector(query, self._languages()), limit,
                                       collection=self._collection(), where=self._where)


def resolve(settings: Settings) -> str:
    """rank-bm25 or qdrant, as `settings.keyword_index` resolves for this deployment."""
    chosen = settings.keyword_index
    if chosen not in CHOICES:
        raise ValueError(f"RAG_KEYWORD_INDEX must be one of {', '.join(CHOICES)}, "
                         f"got {chosen!r}")
    if chosen == "auto":
        local_mode = settings.qdrant.url is None and settings.qdrant.embedded == "local-mode"
        return "rank-bm25" if local_mode else "qdrant"
    return chosen


def keyword_index_for(settings: Settings, store: VectorIndex,
                      collection: Callable[[], str | None],
                      languages: Callable[[], Sequence[str | None]]) -> KeywordIndex:
    """The keyword index adapter the settings choose (a new one: one more entry)."""
    adapters: dict[str, Callable[[], KeywordIndex]] = {
        "rank-bm25": lambda: RankBM25File(Path(settings.bm25_path)),
        "qdrant": lambda: SparseVectorKeywords(store, collection, languages),
    }
    return adapters[resolve(settings)]()
