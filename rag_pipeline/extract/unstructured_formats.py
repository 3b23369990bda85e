"""Everything but PDF goes through unstructured (HTML, DOCX, PPTX, Markdown, text, EML, XLSX...)."""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from rag_pipeline.document_metadata import may_have_front_matter, split_front_matter
from rag_pipeline.extract.errors import ExtractionError
from rag_pipeline.extract.spacy_model import use_packaged_spacy_model
from rag_pipeline.extract.text_encoding import TEXT_EXTENSIONS, detect_text_encoding
from rag_pipeline.records import Element

logger = logging.getLogger(__name__)

_WITH_ATTACHMENTS = {".eml"}
# Page furniture and non-text elements: never chunk text.
_SKIPPED_CATEGORIES = {"PageBreak", "Header", "Footer", "PageNumber", "Image", "Figure"}


class _TableRows(HTMLParser):
    """Turns unstructured's `text_as_html` into one line per row, cells separated by ' | '."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_text(html: str) -> str:
    parser = _TableRows()
    parser.feed(html)
    return "\n".join(" | ".join(row) for row in parser.rows if any(row))


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_DECLARED_LANGUAGES = ["eng"]
"""unstructured detects each document's language (langdetect, and element by element when a
document looks mixed) for metadata this project never reads: 11 of the 80 s of CPU its
partitioning took on the shared corpus' 542 non-PDF files. Declaring the language skips that
(its documented off switch, `[""]`, becomes "auto" again in `partition`). Element types come
from unstructured's English heuristics either way."""


_OWN_PARTITIONERS = {
    ".md": ("unstructured.partition.md", "partition_md"),
    ".markdown": ("unstructured.partition.md", "partition_md"),
    ".txt": ("unstructured.partition.text", "partition_text"),
    ".text": ("unstructured.partition.text", "partition_text"),
}
"""Plain-text formats go straight to their own partitioner, called as `partition` calls it:
`partition` first sniffs the content's type, which costs more than partitioning a short
Markdown file (`benchmarks/bench_extraction.py`). Their decoding is checked first
(`text_encoding`), so binary content under these names still fails with a reason. HTML stays
with `partition`: its sniffing is what turns binary junk named .html into a clear error."""
_AS_PARTITION_CALLS_IT = {"infer_table_structure": True, "strategy": "auto",
                          "detect_language_per_element": False, "starting_page_number": 1}
"""What `partition` adds for these formats (unstructured 0.27), so the elements are the same;
`infer_table_structure` gives tables their `text_as_html` rows."""


def _partitioner(suffix: str) -> Callable[..., list[Any]]:
    if suffix in _OWN_PARTITIONERS:
        module, name = _OWN_PARTITIONERS[suffix]
        own = getattr(importlib.import_module(module), name)
        return functools.partial(own, **_AS_PARTITION_CALLS_IT)
    from unstructured.partition.auto import partition

    return partition


def _partition(path: Path) -> list[Any]:
    encoding = None
    if path.suffix.lower() in TEXT_EXTENSIONS:
        encoding = detect_text_encoding(path)
    kind = path.suffix.lstrip(".").upper()
    partition = _partitioner(path.suffix.lower())
    if may_have_front_matter(path):
        metadata, body = split_front_matter(path.read_text(encoding=encoding or "utf-8"))
        if metadata:  # title and tags, read by the ledger diff: not text to chunk
            try:
                return partition(text=body, languages=_DECLARED_LANGUAGES)
            except Exception as exc:
                raise ExtractionError(f"cannot parse {kind} file: {_reason(exc)}"[:300]) from exc
    try:
        return partition(filename=str(path), encoding=encoding,
                         languages=_DECLARED_LANGUAGES)
    except Exception as exc:  # unstructured surfaces many parser-specific exception types
        failure = ExtractionError(f"cannot parse {kind} file: {_reason(exc)}"[:300])
        if path.suffix.lower() not in _WITH_ATTACHMENTS:
            raise failure from exc
        first = exc
    # unstructured fails a whole email when one attachment cannot be read (an audio file, a
    # format it lacks a parser for): the message itself is kept, without its attachments.
    try:
        raw_elements = partition(filename=str(path), encoding=encoding, process_attachments=False,
                                 languages=_DECLARED_LANGUAGES)
    except Exception:
        raise failure from first
    if not any(str(e.text or "").strip() for e in raw_elements):
        raise failure from first  # nothing of its own to keep: the attachment's error says why
    logger.warning("%s: attachments left out, one could not be read (%s)", path.name,
                   _reason(first)[:200])
    return raw_elements


def extract_with_unstructured(path: Path) -> tuple[list[Element], int | None]:
    use_packaged_spacy_model()
    raw_elements = _partition(path)
    elements: list[Element] = []
    pages: set[int] = set()
    for raw in raw_elements:
        category = getattr(raw, "category", "UncategorizedText")
        if category in _SKIPPED_CATEGORIES:
            continue
        text = str(raw.text or "")
        html = getattr(raw.metadata, "text_as_html", None)
        if category == "Table" and html:
            text = table_text(html) or text
        if not text.strip():
            continue
        page = getattr(raw.metadata, "page_number", None)
        if page is not None:
            pages.add(int(page))
        elements.append(Element(text, category, int(page) if page is not None else None))
    return elements, (max(pages) if pages else None)
