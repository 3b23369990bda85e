"""Search: dense (Qdrant), BM25, and hybrid (the two fused by reciprocal rank).

BM25 comes from a keyword index (`keyword_indexes`: rank-bm25's file or the collection's
sparse vectors, same scores), as RAG_KEYWORD_INDEX says; with the sparse vectors, hybrid search
is one Qdrant Query API call (two prefetches fused by RRF), the query any other Qdrant client
can send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np

from rag_pipeline.embedding import Embedder, embedder_for
from rag_pipeline.filters import SearchFilter
from rag_pipeline.keyword_indexes import SparseVectorKeywords, keyword_index_for, resolve
from rag_pipeline.models import resolve_model
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.ports import KeywordIndex
from rag_pipeline.records import Chunk
from rag_pipeline.search_modes import MODES, Mode
from rag_pipeline.settings import Settings
from rag_pipeline.sparse_bm25 import SparseVector, query_vector

logger = logging.getLogger(__name__)
T = TypeVar("T")

RRF_K = 60
"""Reciprocal-rank-fusion constant (the usual 60): fused score = sum(1 / (RRF_K + rank))."""
CANDIDATES = 100
"""Hits taken from each retriever before fusion."""
LANGUAGES_MAX_AGE_SECONDS = 30.0
"""How long a searcher reuses the knowledge base's languages (which a query is analysed in)
before asking the ledger again: counting them reads every document's row, tens of ms at 100k
documents, and they change with ingests, not from one query to the next."""


class IndexNotFoundError(RuntimeError):
    """The index has not been built yet (a clear message for the CLI, not a traceback)."""


@dataclass(frozen=True)
class SearchHit:
    rank: int
    score: float
    chunk: Chunk


def reciprocal_rank_fusion(rankings: list[list[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class Searcher:
    """Dense queries are embedded by the model that built the collection searched (the live one
    unless `collection` is given), whatever model the settings name: during a backfill to a new
    model, search keeps answering from the old collection with the old model."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 collection: str | None = None,
                 services: PipelineServices | None = None) -> None:
        self.services = services or PipelineServices(settings or Settings.from_env(), embedder)
        self.collection = collection
        self._known_languages: tuple[float, list[str | None]] | None = None

    def _query_embedder(self, collection: str | None) -> Embedder:
        record = self.services.registry.get(collection) if collection else None
        if record is None or record.fingerprint == self.services.model.fingerprint:
            return self.services.query_embedder
        spec = resolve_model(record.model)
        return embedder_for(spec, self.services.settings.embedding_batch_size,
                            endpoint=self.services.settings.embedding_endpoint)

    @property
    def keyword_index(self) -> str:
        """rank-bm25 or qdrant, as RAG_KEYWORD_INDEX resolves here."""
        return resolve(self.services.settings)

    @cached_property
    def keywords(self) -> KeywordIndex:
        return keyword_index_for(self.services.settings, self.services.qdrant,
                                 lambda: self.collection, self._languages)

    def _languages(self) -> list[str | None]:
        """The knowledge base's languages, which a query is analysed in (as the ledger said
        at most LANGUAGES_MAX_AGE_SECONDS ago)."""
        now = time.monotonic()
        if (self._known_languages is None
                or now - self._known_languages[0] > LANGUAGES_MAX_AGE_SECONDS):
            counts = self.services.ledger.language_counts()
            self._known_languages = (now, [None if lang == "?" else lang for lang in counts])
        return self._known_languages[1]

    def _sparse_query(self, query: str) -> SparseVector:
        return query_vector(query, self._languages())

    def _keyword_hits(self, index: KeywordIndex, query: str,
                      limit: int) -> list[tuple[Chunk, float]]:
        try:
            hits = index.search(query, limit)
        except LookupError as exc:
            raise IndexNotFoundError(str(exc)) from exc
        ids_only = [h.id for h in hits if not h.payload]
        # Sparse-vector hits carry their chunks: the ledger is read only for rank-bm25's ids.
        chunks = self.services.ledger.get_chunks(ids_only) if ids_only else {}
        # A chunk removed since the keyword index was last refreshed is not served.
        return [(Chunk.from_payload(h.id, h.payload) if h.payload else chunks[h.id], h.score)
                for h in hits if h.payload or h.id in chunks]

    def _qdrant_hybrid(self, query: str, k: int, candidates: int, rrf_k: int,
                       where: SearchFilter | None = None) -> list[tuple[Chunk, float]]:
        sparse = self._sparse_query(query)

        def run(vector: np.ndarray, collection: str) -> list:
            return self.services.qdrant.query_hybrid(vector, sparse, k, candidates, rrf_k,
                                                     collection=collection, where=where)

        points = self._with_query_vector(query, run)
        return _hits(points)

    def _require_store(self) -> None:
        qdrant = self.services.qdrant
        if qdrant.is_local and not qdrant.path.exists():
            raise IndexNotFoundError("the Qdrant index does not exist yet")

    def _dense(self, query: str, limit: int,
               where: SearchFilter | None = None) -> list[tuple[Chunk, float]]:
        def run(vector: np.ndarray, collection: str) -> list:
            return self.services.qdrant.query(vector, limit, collection=collection, where=where)

        points = self._with_query_vector(query, run)
        return _hits(points)

    def _with_query_vector(self, query: str, run: Callable[[np.ndarray, str], list[T]]
                           ) -> list[T]:
        """`run(query vector, collection)` on the collection searched, with the vector of the
        model that built it."""
        qdrant = self.services.qdrant
        self._require_store()
        # Embedded before the store is opened, so a first search loads the model without
        # keeping writers waiting; it is the vector used unless the live collection was built
        # by another model (during a backfill from a process already set to the new model).
        configured = self.services.query_embedder
        vector = configured.embed([query])[0]
        with qdrant.holding():  # one open for both calls (local mode loads on every open)
            collection = self.collection or qdrant.live()
            if collection is None:
                raise IndexNotFoundError("the Qdrant index does not exist yet")
            embedder = self._query_embedder(collection)
            if embedder is not configured:
                vector = embedder.embed([query])[0]
            try:
                return run(vector, collection)
            except LookupError as exc:
                raise IndexNotFoundError(str(exc)) from exc

    def _bm25(self, query: str, limit: int,
              where: SearchFilter | None = None) -> list[tuple[Chunk, float]]:
        if where:  # filtered in the engine, before ranking: the collection's sparse vectors
            return self._keyword_hits(SparseVectorKeywords(
                self.services.qdrant, lambda: self.collection, self._languages, where),
                query, limit)
        return self._keyword_hits(self.keywords, query, limit)

    def sparse_search(self, query: str, k: int) -> list[SearchHit]:
        """BM25 from the collection's sparse vectors, whatever RAG_KEYWORD_INDEX says."""
        index = SparseVectorKeywords(self.services.qdrant, lambda: self.collection,
                                     self._languages)
        return [SearchHit(i, s, c) for i, (c, s) in
                enumerate(self._keyword_hits(index, query, k), 1)]

    def search(self, query: str, k: int = 10, mode: Mode = "hybrid",
               candidates: int = CANDIDATES, rrf_k: int | None = None,
               where: SearchFilter | None = None) -> list[SearchHit]:
        """Top k chunks. Hybrid fuses the top `candidates` of each retriever by RRF
        (`rrf_k` defaults to the settings' RAG_RRF_K). `where`: only chunks of documents that
        match it (file type, folder, modified since), filtered by the engine before ranking,
        for dense and BM25 alike."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not query.strip():
            return []
        if mode == "dense":
            return [SearchHit(i, s, c) for i, (c, s) in
                    enumerate(self._dense(query, k, where), 1)]
        if mode == "bm25":
            return [SearchHit(i, s, c) for i, (c, s) in
                    enumerate(self._bm25(query, k, where), 1)]
        limit = max(k, candidates)
        if self.keyword_index == "qdrant" or where:
            hits = self._qdrant_hybrid(query, k, limit, rrf_k or self.services.settings.rrf_k,
                                       where)
            return [SearchHit(i, s, c) for i, (c, s) in enumerate(hits, 1)]
        dense, sparse = self._dense(query, limit), self._bm25(query, limit)
        chunks = {c.chunk_id: c for c, _ in [*dense, *sparse]}
        fused = reciprocal_rank_fusion([[c.chunk_id for c, _ in dense],
                                        [c.chunk_id for c, _ in sparse]],
                                       k=rrf_k or self.services.settings.rrf_k)
        return [SearchHit(i, score, chunks[cid]) for i, (cid, score) in enumerate(fused[:k], 1)]


def _hits(points: list) -> list[tuple[Chunk, float]]:
    return [(Chunk.from_payload(str(p.id), p.payload or {}), float(p.score)) for p in points]


def search(query: str, k: int = 10, mode: Mode = "hybrid", settings: Settings | None = None,
           where: SearchFilter | None = None) -> list[SearchHit]:
    """Search the index described by `settings` (default: the environment's); `where`:
    `SearchFilter(types=("pdf",), folders=("handbook/",), modified_since=...)`."""
    return Searcher(settings).search(query, k=k, mode=mode, where=where)
