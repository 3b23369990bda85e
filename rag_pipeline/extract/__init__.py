"""Extraction: a file becomes a list of elements (headings, paragraphs, tables...) with pages."""

from rag_pipeline.extract.dispatch import SUPPORTED_EXTENSIONS, extract_document
from rag_pipeline.extract.errors import ExtractionError

__all__ = ["SUPPORTED_EXTENSIONS", "ExtractionError", "extract_document"]
