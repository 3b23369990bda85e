"""Document factories: every test makes its own small fixtures (no ../shared)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pymupdf
from docx import Document


def write_pdf(path: Path, pages: list[list[tuple[str, str]]], header: str | None = None,
              footer: bool = False) -> Path:
    """pages: per page, a list of (kind, text) with kind 'h' (heading) or 'p' (paragraph)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = pymupdf.open()
    for number, blocks in enumerate(pages, start=1):
        page = document.new_page()
        if header:
            page.insert_text((72, 40), header, fontsize=8)
        y = 90.0
        for kind, text in blocks:
            if kind == "h":
                page.insert_text((72, y), text, fontsize=16, fontname="hebo")
                y += 30
            else:
                rect = pymupdf.Rect(72, y, 520, y + 200)
                page.insert_textbox(rect, text, fontsize=10, fontname="helv")
                y += 210
        if footer:
            page.insert_text((72, 800), f"Page {number} of {len(pages)}", fontsize=8)
    document.save(path)
    return path


def write_scanned_pdf(path: Path, paragraphs: list[str] | list[list[tuple[str, float]]],
                      rotate: int = 0) -> Path:
    """An image-only PDF: each paragraph is typeset on a page, rendered, and kept as a picture
    (turned by `rotate` degrees, as a scan placed sideways or upside down). A page given as
    (text, font size) blocks gets them one under the other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scan = pymupdf.open()
    for paragraph in paragraphs:
        source = pymupdf.open()
        source_page = source.new_page()
        y = 72.0
        for text, size in [(paragraph, 14.0)] if isinstance(paragraph, str) else paragraph:
            rect = pymupdf.Rect(72, y, 520, 770)
            source_page.insert_textbox(rect, text, fontsize=size)
            y += size * 1.2 * (len(text) * size * 0.5 // rect.width + 1) + size
        pixmap = source[0].get_pixmap(dpi=150)
        width, height = source[0].rect.width, source[0].rect.height
        if rotate % 180:  # a sideways scan: the page is as wide as the paper is tall
            width, height = height, width
        page = scan.new_page(width=width, height=height)
        page.insert_image(page.rect, pixmap=pixmap, rotate=rotate)
    scan.save(path)
    return path


def write_scan_in_any_script(path: Path, text: str) -> Path:
    """An image-only PDF of `text` in any script: laid out by PyMuPDF's HTML engine (HarfBuzz
    shaping, MuPDF's Noto fonts), so Devanagari's conjuncts and vowel signs are drawn right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = pymupdf.open()
    source_page = source.new_page()
    source_page.insert_htmlbox(pymupdf.Rect(72, 72, 520, 770),
                               f"<p style='font-size:14pt'>{text}</p>")
    pixmap = source_page.get_pixmap(dpi=150)
    scan = pymupdf.open()
    page = scan.new_page(width=source_page.rect.width, height=source_page.rect.height)
    page.insert_image(page.rect, pixmap=pixmap)
    scan.save(path)
    return path


def write_docx(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = Document()
    document.add_heading(title, level=1)
    for heading, body in sections:
        document.add_heading(heading, level=2)
        document.add_paragraph(body)
    document.save(str(path))
    return path


def write_email(path: Path, body: str, attachments: list[tuple[str, bytes, str]]) -> Path:
    """An .eml message with `attachments` as (file name, content, MIME type)."""
    message = EmailMessage()
    message["From"], message["To"] = "ops@example.com", "team@example.com"
    message["Subject"] = "Quarterly rota"
    message.set_content(body)
    for name, content, mime_type in attachments:
        maintype, subtype = mime_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(message))
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


KNOWLEDGE = {
    "volcanoes.md": "# Volcanoes\n\n## Eruptions\n\nA stratovolcano erupts explosively because "
    "its viscous andesitic magma traps gas until the pressure shatters the rock.\n\n"
    "## Monitoring\n\nSeismometers and tiltmeters detect magma rising beneath the summit weeks "
    "before an eruption.\n",
    "bread.html": "<html><body><h1>Sourdough bread</h1><p>A sourdough starter is a culture of "
    "wild yeast and lactobacilli fed with flour and water every day.</p><h2>Baking</h2><p>Bake "
    "the loaf in a preheated Dutch oven at 250 degrees Celsius for twenty minutes with the lid "
    "on.</p></body></html>",
    "chess.txt": "Chess openings\n\nThe Sicilian Defence begins with 1.e4 c5 and is the most "
    "popular response to the king's pawn opening at master level.\n\nCastling moves the king two "
    "squares towards a rook and places the rook on the other side of the king.\n",
}


def write_knowledge_base(folder: Path) -> dict[str, Path]:
    """A small folder of documents on distinct topics, in several formats."""
    paths = {name: write_text(folder / name, text) for name, text in KNOWLEDGE.items()}
    paths["satellites.pdf"] = write_pdf(folder / "space" / "satellites.pdf", [
        [("h", "Orbits"), ("p", "A geostationary satellite orbits 35,786 kilometres above the "
                                 "equator and takes exactly one sidereal day per orbit.")],
        [("h", "Launch"), ("p", "Reusable boosters land vertically on a drone ship after "
                                 "separating from the second stage.")],
    ])
    paths["beekeeping.docx"] = write_docx(folder / "beekeeping.docx", "Beekeeping basics", [
        ("Hives", "A Langstroth hive has removable frames so the beekeeper can inspect the "
                  "brood without destroying the comb."),
        ("Swarming", "Colonies swarm in late spring when the old queen leaves with half of the "
                     "workers to found a new colony."),
    ])
    return paths
