"""PDFs through PyMuPDF (about 700 pages/s here, against ~4 for unstructured's PDF path)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag_pipeline.extract.errors import ExtractionError
from rag_pipeline.extract.ocr_scripts import models_for_script
from rag_pipeline.extract.orientation import (
    MIN_ENGLISH_CONFIDENCE,
    MIN_ENGLISH_SHARE,
    english_share,
)
from rag_pipeline.extract.tesseract import (
    OcrReading,
    PageBlocks,
    detected_orientation,
    installed_languages,
    ocr_page,
    tesseract_command,
)
from rag_pipeline.records import Element

logger = logging.getLogger(__name__)

_BOLD_FLAG = 16
OCR_DPI = 200
_ORIENTATION_DPI = 150
_MAX_OCR_PIXELS = 12_000_000
"""A page larger than tabloid is OCRed at less than OCR_DPI: Tesseract's time grows with the
pixels (a 30-inch page at 200 dpi is 36 megapixels), and text on such a page is large. The
corpus' `ocrmypdf__poster.pdf` puts a letter scan on a 250 x 500 inch page: 10 dpi is its
scan's own resolution, where 200 dpi would be 5 gigapixels."""
_HEADING_SIZE_RATIO = 1.15
_OCR_HEADING_SIZE_RATIO = 1.5
"""Tesseract's size estimate is coarser than a text layer's: a list set one size above the body
(the shared corpus' `ocrmypdf__linn.pdf`, 1.2x) must not turn every item into a heading."""
_MAX_HEADING_CHARS = 200


def _block_lines(block: dict) -> list[tuple[str, float, bool]]:
    """(text, max font size, all bold) for each line of a text block."""
    lines = []
    for line in block.get("lines", []):
        spans = [s for s in line.get("spans", []) if s.get("text", "").strip()]
        if not spans:
            continue
        text = "".join(s["text"] for s in line["spans"]).strip()
        size = max(float(s.get("size", 0.0)) for s in spans)
        bold = all(int(s.get("flags", 0)) & _BOLD_FLAG for s in spans)
        lines.append((text, size, bold))
    return lines


@dataclass(frozen=True)
class OcrOptions:
    language: str = "eng"
    """Tesseract language(s), e.g. "eng+deu"; empty: OCR off."""
    max_pages: int = 20
    """Pages OCRed per document at most: OCR costs 1-9 s per page here, and the whole document
    must finish within the extraction time limit."""


@lru_cache(maxsize=1)
def ocr_unavailable_reason() -> str | None:
    """None when the tesseract command and its language data are installed, else why OCR
    cannot run."""
    if tesseract_command() is None or _tessdata() is None:
        return "OCR unavailable: install tesseract-ocr"
    return None


@lru_cache(maxsize=1)
def _tessdata() -> str | None:
    """Tesseract's language data folder (TESSDATA_PREFIX, else where tesseract-ocr puts it)."""
    import pymupdf

    try:
        return str(pymupdf.get_tessdata())
    except Exception:
        return None


def _page_blocks(page: object) -> PageBlocks:
    data = page.get_text("dict", sort=True)  # type: ignore[attr-defined]
    blocks = [_block_lines(b) for b in data.get("blocks", []) if b.get("type") == 0]
    return [b for b in blocks if b]


def _page_image(page: object, dpi: int) -> bytes:
    import pymupdf

    return page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY).tobytes("pnm")  # type: ignore[attr-defined]


def _ocr_dpi(page: object) -> int:
    rect = page.rect  # type: ignore[attr-defined]
    square_inches = max(rect.width * rect.height / 72 / 72, 1e-6)
    return max(1, min(OCR_DPI, int((_MAX_OCR_PIXELS / square_inches) ** 0.5)))


def _ocr_once(page: object, language: str) -> OcrReading:
    dpi = _ocr_dpi(page)
    return ocr_page(_page_image(page, dpi), language, _tessdata(), dpi)


def _blocks_text(blocks: PageBlocks) -> str:
    return " ".join(line[0] for block in blocks for line in block)


def _ocr_blocks(page: object, options: OcrOptions) -> PageBlocks:
    """OCR; when an English reading looks like noise (few English words, or low confidence),
    Tesseract's detection says how the page is turned (a scan placed sideways or upside down:
    `orientation`) and in which script it is written. The page is read again turned, then in
    the script's installed models (`ocr_scripts`, on the turned page), and the better reading
    is kept."""
    reading = _ocr_once(page, options.language)
    if "eng" not in options.language.split("+"):
        return reading.blocks  # only English text can be judged here
    share = english_share(_blocks_text(reading.blocks))
    if share >= MIN_ENGLISH_SHARE and reading.confidence >= MIN_ENGLISH_CONFIDENCE:
        return reading.blocks
    number = page.number + 1  # type: ignore[attr-defined]
    seen = detected_orientation(_page_image(page, min(_ORIENTATION_DPI, _ocr_dpi(page))),
                                _tessdata())
    if seen.rotation:
        page.set_rotation((page.rotation + seen.rotation) % 360)  # type: ignore[attr-defined]
        turned = _ocr_once(page, options.language)
        turned_share = english_share(_blocks_text(turned.blocks))
        logger.info("page %d: turned %d degrees for OCR (English words %.0f%% -> %.0f%%)",
                    number, seen.rotation, share * 100, turned_share * 100)
        if turned_share > share:
            reading, share = turned, turned_share
    models = None
    if seen.script not in (None, "Latin"):  # what the configured language reads already
        models = models_for_script(seen.script, installed_languages(_tessdata()))
    if models is not None:
        in_script = _ocr_once(page, models)
        logger.info("page %d: %s script, read again with %s (word confidence %.0f -> %.0f)",
                    number, seen.script, models, reading.confidence, in_script.confidence)
        if in_script.confidence > reading.confidence:
            reading = in_script
    elif seen.script not in (None, "Latin"):  # no installed model for it
        logger.warning("page %d looks like %s script and no Tesseract model for it is "
                       "installed (e.g. tesseract-ocr-script-*): read as %s", number,
                       seen.script, options.language)
    return reading.blocks


def extract_pdf(path: Path, max_pages: int | None = None,
                ocr: OcrOptions | None = None) -> tuple[list[Element], int]:
    """Text per page with headings from font sizes; pages without a text layer are OCRed."""
    import pymupdf

    ocr = ocr or OcrOptions()
    ocr_off = "OCR disabled (RAG_OCR_LANGUAGE is empty)" if not ocr.language else None

    try:
        document = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # PyMuPDF raises its own FileDataError / RuntimeError types
        raise ExtractionError(f"not a valid PDF: {exc}") from exc
    with document:
        if document.needs_pass and not document.authenticate(""):
            raise ExtractionError("password-protected PDF")
        num_pages = document.page_count
        if max_pages is not None and num_pages > max_pages:
            raise ExtractionError(f"exceeds {max_pages:,} pages limit ({num_pages:,} pages)")
        pages: list[tuple[int, PageBlocks, bool]] = []
        unreadable = ocr_pages = 0
        ocr_missing: str | None = None
        first_error = ""
        for index in range(num_pages):
            ocred = False
            try:
                page = document.load_page(index)
                blocks = _page_blocks(page)
                if not blocks and page.get_images():  # a scanned page: no text layer
                    ocr_missing = ocr_off or ocr_unavailable_reason()
                    if ocr_missing is None and ocr_pages < ocr.max_pages:
                        ocr_pages += 1
                        ocred = True
                        blocks = _ocr_blocks(page, ocr)
                    elif ocr_missing is None:
                        ocr_missing = f"OCR limit of {ocr.max_pages:,} pages reached"
            except Exception as exc:  # one broken page must not lose the others
                unreadable += 1
                first_error = first_error or f"page {index + 1}: {exc}"
                logger.warning("%s: page %d unreadable: %s", path.name, index + 1, exc)
                continue
            pages.append((index + 1, blocks, ocred))
    if unreadable == num_pages and num_pages:
        raise ExtractionError(f"not a valid PDF: no page could be read ({first_error})"[:300])
    if ocr_pages:
        logger.info("%s: OCRed %d page(s) without a text layer", path.name, ocr_pages)
    sizes: Counter[float] = Counter()
    for _, blocks, _ocred in pages:
        for block in blocks:
            for text, size, _bold in block:
                sizes[round(size * 2) / 2] += len(text)
    if not sizes:
        if ocr_pages:
            raise ExtractionError(f"no text layer, and OCR found no text on {ocr_pages} page(s)")
        if ocr_missing:
            raise ExtractionError(f"no text layer (image-only PDF) and {ocr_missing}")
        raise ExtractionError(f"no text: {len(pages)} page(s) without a text layer or images "
                              "(blank, damaged, or text drawn as curves)")
    body_size = sizes.most_common(1)[0][0]
    elements: list[Element] = []
    for page_number, blocks, ocred in pages:
        ratio = _OCR_HEADING_SIZE_RATIO if ocred else _HEADING_SIZE_RATIO
        for block in blocks:
            text = "\n".join(line[0] for line in block)
            elements.append(Element(text, _element_type(block, body_size, ratio), page_number))
    return elements, num_pages


def _element_type(block: list[tuple[str, float, bool]], body_size: float, ratio: float) -> str:
    text_length = sum(len(line[0]) for line in block)
    if len(block) > 3 or text_length > _MAX_HEADING_CHARS:
        return "NarrativeText"
    largest = max(line[1] for line in block)
    if largest >= body_size * ratio:
        return "Title"
    if len(block) == 1 and block[0][2] and text_length <= 100 and not block[0][0].endswith("."):
        return "Title"
    return "NarrativeText"
