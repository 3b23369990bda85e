"""The pipeline's stages and what each one reads, declared once.

The Dagster assets take their upstream dependency (`deps=`) and their partitioning from here,
and each stage reads its input batch through `read_input`, so the lineage the UI shows is the
lineage the code follows.
"""

from __future__ import annotations

from typing import Any

from rag_pipeline.staging import StageHandOver

EXTRACTED = "extracted_documents"
CLEANED = "cleaned_documents"
CHUNKED = "document_chunks"
EMBEDDED = "chunk_embeddings"
QDRANT_INDEX = "qdrant_index"
BM25_INDEX = "bm25_index"
PUBLISHED = "published_collection"

UPSTREAM: dict[str, str | None] = {
    EXTRACTED: None,
    CLEANED: EXTRACTED,
    CHUNKED: CLEANED,
    EMBEDDED: CHUNKED,
    QDRANT_INDEX: EMBEDDED,
    BM25_INDEX: QDRANT_INDEX,
    PUBLISHED: QDRANT_INDEX,
}
STAGES = tuple(UPSTREAM)
PER_SHARD = (EXTRACTED, CLEANED, CHUNKED, EMBEDDED, QDRANT_INDEX)
"""Partitioned by document shard: each run works on its shards' batches."""
AFTER_ALL_SHARDS = (BM25_INDEX, PUBLISHED)
"""Over the whole knowledge base, once after the shard stages."""


def read_input(stages: StageHandOver, stage: str, shard: str) -> Any:
    """The batch `stage` works on for `shard`: what its upstream stage left."""
    upstream = UPSTREAM[stage]
    if upstream is None:
        raise ValueError(f"{stage} reads the source, not a stage")
    return stages.read(upstream, shard)
