"""Embeddings: one vector per chunk content and model, computed at most once."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import EMBEDDING_CHECKS, results, specs
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from assets.partitions import OWNERS, document_shards, single_run
from rag_pipeline.pipeline.checks import embedding_batch_checks
from rag_pipeline.pipeline.embeddings import embed_shards


def build_embedding_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    key = kb.key("chunk_embeddings")

    @asset(key=key, group_name=kb.name, partitions_def=document_shards,
           backfill_policy=single_run, required_resource_keys=kb.resource_keys,
           deps=[kb.key("document_chunks")], kinds={"python", "pytorch"}, owners=OWNERS,
           code_version=kb.embedding_version,
           check_specs=specs(key, EMBEDDING_CHECKS, blocking=True))
    def chunk_embeddings(context: AssetExecutionContext) -> MaterializeResult:
        """Sentence-transformers vectors of new chunk contents; chunks this model already
        embedded are reused from the embedding cache."""
        services = kb.services(context)
        shards = list(context.partition_keys)
        report, drift = embed_shards(services, shards, context.log)
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            key, {**embedding_batch_checks(services, shards), "no_drift": drift}))

    return [chunk_embeddings]
