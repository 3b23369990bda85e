"""Chunks: cleaned documents cut to the embedding model's token limit, by structure."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.checks import CHUNK_CHECKS, results, specs
from assets.documents import cleaned_documents
from assets.metadata import to_metadata
from assets.partitions import OWNERS, PROCESSING_VERSION, document_shards, single_run
from rag_pipeline.pipeline.checks import chunk_batch_checks
from rag_pipeline.pipeline.chunks import chunk_shards
from resources import PipelineSettingsResource, QdrantResource, pipeline_services


@asset(partitions_def=document_shards, backfill_policy=single_run, group_name="chunks",
       deps=[cleaned_documents], kinds={"python"}, owners=OWNERS,
       code_version=PROCESSING_VERSION,
       check_specs=specs("document_chunks", CHUNK_CHECKS, blocking=True))
def document_chunks(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """Chunks of the changed documents, sized with the model's tokenizer, never straddling a
    heading, with page numbers, section title, offsets and content hash."""
    services = pipeline_services(pipeline, qdrant)
    shards = list(context.partition_keys)
    report = chunk_shards(services, shards, context.log)
    return MaterializeResult(metadata=to_metadata(report), check_results=results(
        "document_chunks", chunk_batch_checks(services, shards)))
