"""Documents: the changed files of each shard, extracted and cleaned."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from rag_pipeline.pipeline.documents import clean_shards, extract_shards


def build_document_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    @asset(**kb.asset_args("extracted_documents", {"python", "pymupdf"},
                           code_version=kb.processing_version))
    def extracted_documents(context: AssetExecutionContext) -> MaterializeResult:
        """Text, headings, tables and page numbers of the new and changed files of each shard
        (PyMuPDF for PDFs, unstructured for other formats), diffed against the ledger."""
        report = extract_shards(kb.services(context), list(context.partition_keys),
                                context.log)
        return MaterializeResult(metadata=to_metadata(report))

    @asset(**kb.asset_args("cleaned_documents", {"python"},
                           code_version=kb.processing_version))
    def cleaned_documents(context: AssetExecutionContext) -> MaterializeResult:
        """Extracted documents after NFKC, de-hyphenation, whitespace and control-character
        cleaning and removal of repeated page headers/footers; exact duplicates flagged."""
        report = clean_shards(kb.services(context), list(context.partition_keys), context.log)
        return MaterializeResult(metadata=to_metadata(report))

    return [extracted_documents, cleaned_documents]
