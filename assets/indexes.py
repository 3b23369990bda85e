"""Indexes: Qdrant points per shard, and the BM25 index over every indexed chunk."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import BM25_CHECKS, QDRANT_CHECKS, results, specs
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from assets.partitions import OWNERS, document_shards, single_run
from rag_pipeline.pipeline.checks import bm25_index_checks, qdrant_index_checks
from rag_pipeline.pipeline.indexes import index_shards, rebuild_bm25


def build_index_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    qdrant_key, bm25_key = kb.key("qdrant_index"), kb.key("bm25_index")

    @asset(key=qdrant_key, group_name=kb.name, partitions_def=document_shards,
           backfill_policy=single_run, required_resource_keys=kb.resource_keys,
           deps=[kb.key("chunk_embeddings")], kinds={"qdrant", "sqlite"}, owners=OWNERS,
           code_version=kb.embedding_version,
           check_specs=specs(qdrant_key, QDRANT_CHECKS, blocking=False))
    def qdrant_index(context: AssetExecutionContext) -> MaterializeResult:
        """Qdrant points (vector + chunk text and metadata) of each shard, with the document
        ledger committed after the write; deleted and failed documents lose their points."""
        services = kb.services(context)
        with services.qdrant.holding():  # one open for the step's writes and checks
            report = index_shards(services, list(context.partition_keys), context.log)
            checks = qdrant_index_checks(services)
        return MaterializeResult(metadata=to_metadata(report),
                                 check_results=results(qdrant_key, checks))

    @asset(key=bm25_key, group_name=kb.name, required_resource_keys=kb.resource_keys,
           deps=[qdrant_index], kinds={"python"}, owners=OWNERS,
           check_specs=specs(bm25_key, BM25_CHECKS, blocking=False))
    def bm25_index(context: AssetExecutionContext) -> MaterializeResult:
        """rank-bm25 index over every chunk in the ledger (so over the same chunks as
        Qdrant), rebuilt once per run and saved atomically with the chunk ids."""
        services = kb.services(context)
        report = rebuild_bm25(services, context.log)
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            bm25_key, bm25_index_checks(services)))

    return [qdrant_index, bm25_index]
