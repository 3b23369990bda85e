"""Software-defined assets: thin wrappers that read context, call the core, report metadata."""

from assets.chunks import document_chunks
from assets.documents import cleaned_documents, extracted_documents
from assets.embeddings import chunk_embeddings
from assets.indexes import bm25_index, qdrant_index
from assets.partitions import document_shards
from assets.publishing import published_collection

ALL_ASSETS = [
    extracted_documents,
    cleaned_documents,
    document_chunks,
    chunk_embeddings,
    qdrant_index,
    bm25_index,
    published_collection,
]

__all__ = ["ALL_ASSETS", "document_shards"]
