"""Indexes: Qdrant points per shard, and the BM25 index over every indexed chunk."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.checks import BM25_CHECKS, QDRANT_CHECKS, results, specs
from assets.embeddings import chunk_embeddings
from assets.metadata import to_metadata
from assets.partitions import EMBEDDING_VERSION, OWNERS, document_shards, single_run
from rag_pipeline.pipeline.checks import bm25_index_checks, qdrant_index_checks
from rag_pipeline.pipeline.indexes import index_shards, rebuild_bm25
from resources import PipelineSettingsResource, QdrantResource, pipeline_services


@asset(partitions_def=document_shards, backfill_policy=single_run, group_name="indexes",
       deps=[chunk_embeddings], kinds={"qdrant", "sqlite"}, owners=OWNERS,
       code_version=EMBEDDING_VERSION,
       check_specs=specs("qdrant_index", QDRANT_CHECKS, blocking=False))
def qdrant_index(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """Qdrant points (vector + chunk text and metadata) of each shard, with the document ledger
    committed after the write; deleted and failed documents lose their points."""
    services = pipeline_services(pipeline, qdrant)
    with services.qdrant.holding():  # one open for the step's writes and checks
        report = index_shards(services, list(context.partition_keys), context.log)
        checks = qdrant_index_checks(services)
    return MaterializeResult(metadata=to_metadata(report), check_results=results(
        "qdrant_index", checks))


@asset(group_name="indexes", deps=[qdrant_index], kinds={"python"}, owners=OWNERS,
       check_specs=specs("bm25_index", BM25_CHECKS, blocking=False))
def bm25_index(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """rank-bm25 index over every chunk in the ledger (so over the same chunks as Qdrant),
    rebuilt once per run and saved atomically with the chunk ids."""
    services = pipeline_services(pipeline, qdrant)
    report = rebuild_bm25(services, context.log)
    return MaterializeResult(metadata=to_metadata(report), check_results=results(
        "bm25_index", bm25_index_checks(services)))
