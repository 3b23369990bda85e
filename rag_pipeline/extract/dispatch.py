"""Routing a file to its extractor by extension, with a clear per-document error."""

from __future__ import annotations

import logging
from pathlib import Path

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract.errors import ExtractionError
from rag_pipeline.extract.pdf import OcrOptions, extract_pdf
from rag_pipeline.extract.unstructured_formats import extract_with_unstructured
from rag_pipeline.language import SAMPLE_CHARS, detect_language
from rag_pipeline.records import DocumentFailure, Element, ExtractedDocument

logger = logging.getLogger(__name__)

UNSTRUCTURED_EXTENSIONS = frozenset({
    ".html", ".htm", ".xhtml", ".docx", ".pptx", ".md", ".markdown", ".txt", ".text",
    ".eml", ".xlsx", ".csv", ".tsv", ".epub", ".odt", ".rtf", ".rst", ".org", ".xml",
})
SUPPORTED_EXTENSIONS = frozenset({".pdf"}) | UNSTRUCTURED_EXTENSIONS

DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_PAGES = 2000
DEFAULT_MAX_CHARACTERS = 20_000_000


def _is_pdf(path: Path) -> bool:
    """PDF readers accept the signature anywhere in the first kilobyte."""
    with path.open("rb") as handle:
        return b"%PDF-" in handle.read(1024)


def document_language(elements: list[Element]) -> str:
    """Detected once per document, here in the extraction worker, from the start of its text.

    unstructured is not told: its elements for Hindi and German text and Markdown came out the
    same with the real language as with English declared, so partitioning again would be
    cost only."""
    sample: list[str] = []
    size = 0
    for element in elements:
        if size >= SAMPLE_CHARS:
            break
        sample.append(element.text)
        size += len(element.text) + 1
    return detect_language("\n".join(sample))


def extract_document(
    pending: PendingFile,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_characters: int = DEFAULT_MAX_CHARACTERS,
    ocr: OcrOptions | None = None,
) -> ExtractedDocument | DocumentFailure:
    """Never raises for a bad document: returns a DocumentFailure with the reason instead."""
    source = pending.source
    suffix = source.path.suffix.lower()
    try:
        if pending.file_hash is None:
            raise ExtractionError("file cannot be read (permission denied or vanished)")
        if suffix not in SUPPORTED_EXTENSIONS:
            raise ExtractionError(f"unsupported file type {suffix or '(no extension)'}")
        if source.size == 0:
            raise ExtractionError("empty file (0 bytes)")
        if source.size > max_file_bytes:
            raise ExtractionError(
                f"exceeds {max_file_bytes / 2**20:,.0f} MiB file size limit "
                f"({source.size / 2**20:,.1f} MiB)"
            )
        if suffix == ".pdf" or _is_pdf(source.path):  # a PDF under another name is still one
            elements, num_pages = extract_pdf(source.path, max_pages=max_pages, ocr=ocr)
        else:
            elements, num_pages = extract_with_unstructured(source.path)
        if not any(e.text.strip() for e in elements):
            raise ExtractionError("no text found in document")
        characters = sum(len(e.text) for e in elements)
        if characters > max_characters:
            raise ExtractionError(f"exceeds {max_characters:,} extracted characters limit "
                                  f"({characters:,})")
    except ExtractionError as exc:
        return DocumentFailure(source, pending.file_hash, str(exc))
    except MemoryError:
        return DocumentFailure(source, pending.file_hash, "ran out of memory while extracting")
    except Exception as exc:  # a parser bug must cost one document, not the batch
        logger.exception("unexpected error extracting %s", source.relative_path)
        return DocumentFailure(
            source, pending.file_hash, f"extraction failed: {type(exc).__name__}: {exc}"[:300]
        )
    return ExtractedDocument(source, pending.file_hash, tuple(elements), num_pages,
                             language=document_language(elements))
