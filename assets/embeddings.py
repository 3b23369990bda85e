"""Embeddings: one vector per chunk content and model, computed at most once."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import EMBEDDING_CHECKS, results
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from assets.partitions import EMBEDDING_POOL
from rag_pipeline.pipeline.checks import embedding_batch_checks
from rag_pipeline.pipeline.embeddings import embed_shards


def build_embedding_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    @asset(**kb.asset_args("chunk_embeddings", {"python", "pytorch"},
                           code_version=kb.embedding_version, checks=EMBEDDING_CHECKS,
                           blocking=True, pool=EMBEDDING_POOL))
    def chunk_embeddings(context: AssetExecutionContext) -> MaterializeResult:
        """Sentence-transformers vectors of new chunk contents; chunks this model already
        embedded are reused from the embedding cache."""
        services = kb.services(context)
        shards = list(context.partition_keys)
        report, drift = embed_shards(services, shards, context.log)
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            kb.key("chunk_embeddings"),
            {**embedding_batch_checks(services, shards), "no_drift": drift}))

    return [chunk_embeddings]
