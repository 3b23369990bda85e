"""Documents: the changed files of each shard, extracted and cleaned."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.metadata import to_metadata
from assets.partitions import OWNERS, PROCESSING_VERSION, document_shards, single_run
from rag_pipeline.pipeline.documents import clean_shards, extract_shards
from resources import PipelineSettingsResource, QdrantResource, pipeline_services


@asset(partitions_def=document_shards, backfill_policy=single_run, group_name="documents",
       kinds={"python", "pymupdf"}, owners=OWNERS, code_version=PROCESSING_VERSION)
def extracted_documents(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """Text, headings, tables and page numbers of the new and changed files of each shard
    (PyMuPDF for PDFs, unstructured for other formats), diffed against the document ledger."""
    report = extract_shards(pipeline_services(pipeline, qdrant), list(context.partition_keys),
                            context.log)
    return MaterializeResult(metadata=to_metadata(report))


@asset(partitions_def=document_shards, backfill_policy=single_run, group_name="documents",
       deps=[extracted_documents], kinds={"python"}, owners=OWNERS,
       code_version=PROCESSING_VERSION)
def cleaned_documents(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """Extracted documents after NFKC, de-hyphenation, whitespace and control-character
    cleaning and removal of repeated page headers/footers; exact duplicates flagged."""
    report = clean_shards(pipeline_services(pipeline, qdrant), list(context.partition_keys),
                          context.log)
    return MaterializeResult(metadata=to_metadata(report))
