"""Chunks: cleaned documents cut to the embedding model's token limit, by structure."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import CHUNK_CHECKS, results, specs
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from assets.partitions import OWNERS, document_shards, single_run
from rag_pipeline.pipeline.checks import chunk_batch_checks
from rag_pipeline.pipeline.chunks import chunk_shards


def build_chunk_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    key = kb.key("document_chunks")

    @asset(key=key, group_name=kb.name, partitions_def=document_shards,
           backfill_policy=single_run, required_resource_keys=kb.resource_keys,
           deps=[kb.key("cleaned_documents")], kinds={"python"}, owners=OWNERS,
           code_version=kb.processing_version,
           check_specs=specs(key, CHUNK_CHECKS, blocking=True))
    def document_chunks(context: AssetExecutionContext) -> MaterializeResult:
        """Chunks of the changed documents, sized with the model's tokenizer, never
        straddling a heading, with page numbers, section title, offsets and content hash."""
        services = kb.services(context)
        shards = list(context.partition_keys)
        report = chunk_shards(services, shards, context.log)
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            key, chunk_batch_checks(services, shards)))

    return [document_chunks]
