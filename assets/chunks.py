"""Chunks: cleaned documents cut to the embedding model's token limit, by structure."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import CHUNK_CHECKS, results
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from rag_pipeline.pipeline.checks import chunk_batch_checks
from rag_pipeline.pipeline.chunks import chunk_shards


def build_chunk_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    @asset(**kb.asset_args("document_chunks", {"python"},
                           code_version=kb.processing_version, checks=CHUNK_CHECKS,
                           blocking=True))
    def document_chunks(context: AssetExecutionContext) -> MaterializeResult:
        """Chunks of the changed documents, sized with the model's tokenizer, never
        straddling a heading, with page numbers, section title, offsets and content hash."""
        services = kb.services(context)
        shards = list(context.partition_keys)
        report = chunk_shards(services, shards, context.log)
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            kb.key("document_chunks"), chunk_batch_checks(services, shards)))

    return [document_chunks]
