from __future__ import annotations

from pathlib import Path

from rag_pipeline.cleaning import clean_document, clean_text
from rag_pipeline.ids import document_id_for
from rag_pipeline.records import Element, ExtractedDocument, SourceFile


def test_nfkc_control_characters_and_whitespace() -> None:
    assert clean_text("ﬁne\u00a0 tuning\x00\x07 done\u200b") == "fine tuning done"


def test_line_end_hyphenation_is_joined_and_lines_become_a_paragraph() -> None:
    assert clean_text("the exam-\nple shows\nhow") == "the example shows how"


def test_tables_keep_their_rows() -> None:
    assert clean_text("a | b\n\nc  |  d", keep_lines=True) == "a | b\nc | d"


def _document(elements: list[Element]) -> ExtractedDocument:
    source = SourceFile(Path("x.pdf"), "x.pdf", document_id_for("x.pdf"), "00", 1, 1)
    return ExtractedDocument(source, "hash", tuple(elements), num_pages=4)


def test_repeated_headers_and_page_numbers_are_removed() -> None:
    elements = []
    for page in range(1, 5):
        elements += [
            Element("ACME Corp - Internal", "Header-ish", page),
            Element(f"Revenue grew {page * 7} percent in region {page + 10}.",
                    "NarrativeText", page),
            Element(f"Page {page} of 4", "NarrativeText", page),
        ]
    cleaned = clean_document(_document(elements))
    assert "ACME" not in cleaned.text
    assert "Page" not in cleaned.text
    # Lines that differ only by numbers other than the page number are content, not furniture.
    assert cleaned.text.count("Revenue grew") == 4


def test_blocks_point_at_their_text_and_track_sections() -> None:
    cleaned = clean_document(_document([
        Element("Intro", "Title", 1),
        Element("First   paragraph.", "NarrativeText", 1),
        Element("Second paragraph.", "NarrativeText", 2),
    ]))
    assert [cleaned.text[b.start:b.end] for b in cleaned.blocks] == [
        "Intro", "First paragraph.", "Second paragraph."]
    assert {b.section_title for b in cleaned.blocks} == {"Intro"}
    assert cleaned.blocks[2].page_number == 2


def test_identical_content_gives_identical_text_hash() -> None:
    a = clean_document(_document([Element("Same words here.", "NarrativeText", 1)]))
    b = clean_document(_document([Element("Same   words here.", "NarrativeText", 1)]))
    assert a.text_hash == b.text_hash
