"""Cleaning: Unicode NFKC, control characters, hyphenation and whitespace, page furniture."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from rag_pipeline.ids import text_hash
from rag_pipeline.records import Block, CleanedDocument, Element, ExtractedDocument

# C0/C1 control characters except tab and newline, plus zero-width and BOM characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_HYPHENATED_LINE_END = re.compile(r"(\w)-\n(?=[a-z])")
_SPACES = re.compile(r"[ \t\u00a0]+")
_PAGE_NUMBER_ONLY = re.compile(r"^(page\s*)?\d{1,5}(\s*(of|/)\s*\d{1,5})?$", re.IGNORECASE)

_FURNITURE_MIN_PAGES = 3
_FURNITURE_SHARE = 0.5
_FURNITURE_MAX_CHARS = 200
_EDGE_ELEMENTS = 2
"""Headers and footers are looked for among the first and last elements of each page."""


def clean_text(text: str, keep_lines: bool = False) -> str:
    """NFKC, no control characters, words re-joined across line-end hyphens, tidy whitespace.

    Prose lines are joined into one paragraph; tables and code keep their line breaks.
    """
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    if not keep_lines:
        text = _HYPHENATED_LINE_END.sub(r"\1", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    return ("\n" if keep_lines else " ").join(lines)


def _signature(element: Element) -> str:
    """Running headers/footers repeat exactly, or differ only by the page's own number."""
    text = " ".join(element.text.lower().split())
    if element.page_number is not None and str(element.page_number) in re.findall(r"\d+", text):
        return re.sub(r"\d+", "#", text)
    return text


def repeated_page_furniture(elements: tuple[Element, ...]) -> set[str]:
    """Signatures of short texts that sit at the top or bottom of most pages (running headers,
    footers, 'Page 3 of 10')."""
    by_page: dict[int, list[Element]] = {}
    for element in elements:
        if element.page_number is not None:
            by_page.setdefault(element.page_number, []).append(element)
    if len(by_page) < _FURNITURE_MIN_PAGES:
        return set()
    counts: Counter[str] = Counter()
    for page_elements in by_page.values():
        edges = page_elements[:_EDGE_ELEMENTS] + page_elements[-_EDGE_ELEMENTS:]
        counts.update({_signature(e) for e in edges if len(e.text) <= _FURNITURE_MAX_CHARS})
    threshold = max(_FURNITURE_MIN_PAGES, _FURNITURE_SHARE * len(by_page))
    return {signature for signature, n in counts.items() if n >= threshold}


def clean_document(document: ExtractedDocument) -> CleanedDocument:
    furniture = repeated_page_furniture(document.elements)
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    section: str | None = None
    for element in document.elements:
        if element.page_number is not None and _signature(element) in furniture:
            continue
        keep_lines = element.element_type in {"Table", "CodeSnippet"}
        text = clean_text(element.text, keep_lines=keep_lines)
        if not text or _PAGE_NUMBER_ONLY.match(text):
            continue
        if element.element_type == "Title":
            section = text[:200]
        if parts:
            offset += 2  # the "\n\n" separator
        blocks.append(Block(offset, offset + len(text), element.element_type,
                            element.page_number, section))
        parts.append(text)
        offset += len(text)
    full_text = "\n\n".join(parts)
    return CleanedDocument(
        source=document.source,
        file_hash=document.file_hash,
        text=full_text,
        text_hash=text_hash(full_text),
        blocks=tuple(blocks),
        num_pages=document.num_pages,
        language=document.language,
    )
