"""Indexes: Qdrant points per shard, and the BM25 index over every indexed chunk."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import BM25_CHECKS, QDRANT_CHECKS, results
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from rag_pipeline.pipeline.checks import bm25_index_checks, qdrant_index_checks
from rag_pipeline.pipeline.indexes import index_shards, rebuild_bm25


def build_index_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    @asset(**kb.asset_args("qdrant_index", {"qdrant", "sqlite"},
                           code_version=kb.embedding_version, checks=QDRANT_CHECKS,
                           pool=kb.index_pool))
    def qdrant_index(context: AssetExecutionContext) -> MaterializeResult:
        """Qdrant points (vector + chunk text and metadata) of each shard, with the document
        ledger committed after the write; deleted and failed documents lose their points."""
        services = kb.services(context)
        with services.qdrant.holding():  # one open for the step's writes and checks
            report = index_shards(services, list(context.partition_keys), context.log)
            checks = qdrant_index_checks(services)
        return MaterializeResult(metadata=to_metadata(report),
                                 check_results=results(kb.key("qdrant_index"), checks))

    @asset(**kb.asset_args("bm25_index", {"python"},
                           checks=BM25_CHECKS, pool=kb.index_pool))
    def bm25_index(context: AssetExecutionContext) -> MaterializeResult:
        """rank-bm25 index over every chunk in the ledger (so over the same chunks as
        Qdrant), rebuilt once per run and saved atomically with the chunk ids."""
        services = kb.services(context)
        report = rebuild_bm25(services, context.log)
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            kb.key("bm25_index"), bm25_index_checks(services)))

    return [qdrant_index, bm25_index]
