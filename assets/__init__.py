"""Software-defined assets: thin wrappers that read context, call the core, report metadata.

Every knowledge base gets the same graph under its own key prefix and group."""

import warnings

from dagster import AssetsDefinition, BetaWarning

from assets.chunks import build_chunk_assets
from assets.documents import build_document_assets
from assets.embeddings import build_embedding_assets
from assets.indexes import build_index_assets
from assets.knowledge_base import KnowledgeBaseAssets
from assets.partitions import document_shards
from assets.publishing import build_publishing_assets
from rag_pipeline.pipeline.lineage import STAGES

ASSET_NAMES = STAGES


def knowledge_base_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    """The asset graph of one knowledge base, in the order data flows."""
    with warnings.catch_warnings():
        # Single-run backfills are "beta" in Dagster 1.13; they are what keeps N documents
        # at one run.
        warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")
        return [*build_document_assets(kb), *build_chunk_assets(kb),
                *build_embedding_assets(kb), *build_index_assets(kb),
                *build_publishing_assets(kb)]


__all__ = ["ASSET_NAMES", "KnowledgeBaseAssets", "document_shards", "knowledge_base_assets"]
