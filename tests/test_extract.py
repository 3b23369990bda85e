from __future__ import annotations

from pathlib import Path

import pytest

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract import extract_document
from rag_pipeline.ids import document_id_for, file_hash, shard_for
from rag_pipeline.records import DocumentFailure, ExtractedDocument, SourceFile
from tests.fixtures import write_docx, write_pdf, write_text


def pending(path: Path, root: Path) -> PendingFile:
    relative = path.relative_to(root).as_posix()
    doc_id = document_id_for(relative)
    stat = path.stat()
    source = SourceFile(path, relative, doc_id, shard_for(doc_id), stat.st_size, stat.st_mtime_ns)
    return PendingFile(source, file_hash(path))


def extract_ok(path: Path, root: Path) -> ExtractedDocument:
    result = extract_document(pending(path, root))
    assert isinstance(result, ExtractedDocument), getattr(result, "error", result)
    return result


def test_pdf_keeps_pages_and_headings(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "a.pdf", [
        [("h", "Introduction"), ("p", "Alpha paragraph on the first page.")],
        [("h", "Method"), ("p", "Beta paragraph on the second page.")],
    ])
    document = extract_ok(path, tmp_path)
    assert document.num_pages == 2
    by_text = {e.text.replace("\n", " "): e for e in document.elements}
    assert by_text["Introduction"].element_type == "Title"
    assert by_text["Method"].page_number == 2
    assert by_text["Beta paragraph on the second page."].page_number == 2
    assert by_text["Beta paragraph on the second page."].element_type == "NarrativeText"


def test_docx_headings_become_titles(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "b.docx", "Report", [("Findings", "The pump failed twice.")])
    document = extract_ok(path, tmp_path)
    types = {e.text: e.element_type for e in document.elements}
    assert types["Report"] == "Title"
    assert types["Findings"] == "Title"
    assert "The pump failed twice." in types


def test_html_drops_scripts_and_keeps_table_rows(tmp_path: Path) -> None:
    path = write_text(tmp_path / "c.html", (
        "<html><head><script>var secret = 'x';</script><style>p{}</style></head><body>"
        "<h1>Prices</h1><p>Our price list.</p><table><tr><th>Item</th><th>Cost</th></tr>"
        "<tr><td>Tea</td><td>3</td></tr></table></body></html>"
    ))
    document = extract_ok(path, tmp_path)
    text = "\n".join(e.text for e in document.elements)
    assert "secret" not in text and "p{}" not in text
    table = next(e for e in document.elements if e.element_type == "Table")
    assert table.text.splitlines() == ["Item | Cost", "Tea | 3"]


def test_markdown_headings(tmp_path: Path) -> None:
    path = write_text(tmp_path / "d.md", "# Guide\n\n## Setup\n\nInstall the tool.\n")
    document = extract_ok(path, tmp_path)
    assert [e.text for e in document.elements if e.element_type == "Title"] == ["Guide", "Setup"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.pdf", b"", "empty file (0 bytes)"),
        ("broken.pdf", b"%PDF-1.7\nthis is not really a pdf", "not a valid PDF"),
        ("tool.exe", b"MZ\x90\x00binary", "unsupported file type .exe"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path: Path, name: str, content: bytes,
                                      reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, DocumentFailure)
    assert result.error.startswith(reason)


def test_encrypted_pdf_fails_clearly(tmp_path: Path) -> None:
    import pymupdf

    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "secret text")
    path = tmp_path / "locked.pdf"
    document.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, DocumentFailure)
    assert result.error == "password-protected PDF"


def test_image_only_pdf_fails_clearly(tmp_path: Path) -> None:
    import pymupdf

    document = pymupdf.open()
    page = document.new_page()
    page.draw_rect(pymupdf.Rect(50, 50, 200, 200), fill=(0, 0, 0))
    path = tmp_path / "scan.pdf"
    document.save(path)
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, DocumentFailure)
    assert "no text layer" in result.error
