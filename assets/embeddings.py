"""Embeddings: one vector per chunk content and model, computed at most once."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.checks import EMBEDDING_CHECKS, results, specs
from assets.chunks import document_chunks
from assets.metadata import to_metadata
from assets.partitions import EMBEDDING_VERSION, OWNERS, document_shards, single_run
from rag_pipeline.pipeline.checks import embedding_batch_checks
from rag_pipeline.pipeline.embeddings import embed_shards
from resources import PipelineSettingsResource, QdrantResource, pipeline_services


@asset(partitions_def=document_shards, backfill_policy=single_run, group_name="chunks",
       deps=[document_chunks], kinds={"python", "pytorch"}, owners=OWNERS,
       code_version=EMBEDDING_VERSION,
       check_specs=specs("chunk_embeddings", EMBEDDING_CHECKS, blocking=True))
def chunk_embeddings(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """Sentence-transformers vectors of new chunk contents; chunks this model already embedded
    are reused from the embedding cache."""
    services = pipeline_services(pipeline, qdrant)
    shards = list(context.partition_keys)
    report, drift = embed_shards(services, shards, context.log)
    return MaterializeResult(metadata=to_metadata(report), check_results=results(
        "chunk_embeddings", {**embedding_batch_checks(services, shards), "no_drift": drift}))
