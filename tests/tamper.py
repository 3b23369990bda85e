"""Changing points behind the pipeline's back, through the vector index port (any engine)."""

from __future__ import annotations

import numpy as np

from rag_pipeline.analysis import bm25_terms
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.sparse_bm25 import BM25Parameters, SparseVector, weights


def rewrite_point(services: PipelineServices, chunk_id: str, *,
                  payload: dict[str, object] | None = None, sparse_scale: float = 1.0) -> None:
    """Write a ledger chunk's point again with its cached vector, and `payload` (default: its
    own) and its BM25 weights times `sparse_scale`."""
    chunk = services.ledger.get_chunks([chunk_id])[chunk_id]
    live = services.qdrant.live()
    assert live is not None
    vector = services.embedding_cache.get(services.model.fingerprint,
                                          {chunk.content_hash})[chunk.content_hash]
    record = services.registry.get(live)
    assert record is not None and record.bm25 is not None
    own = weights(bm25_terms(chunk.index_text, chunk.language), record.bm25)
    services.qdrant.upsert(live, [chunk_id], vector[None, :], [payload or chunk.payload()],
                           sparse=[SparseVector(own.indices,
                                                [v * sparse_scale for v in own.values])])


def add_orphan(services: PipelineServices, point_id: str) -> None:
    live = services.qdrant.live()
    assert live is not None
    dimension = services.qdrant.dimension(live)
    assert dimension is not None
    services.qdrant.upsert(live, [point_id], np.full((1, dimension), 0.1, dtype=np.float32),
                           [{"document_id": "not-in-ledger", "text": "orphan"}],
                           sparse=[weights(["orphan"], BM25Parameters(0.9, 0.4, 10.0))])
