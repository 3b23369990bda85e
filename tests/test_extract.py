from __future__ import annotations

from pathlib import Path

import pytest

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract import extract_document, tesseract
from rag_pipeline.extract import pdf as pdf_module
from rag_pipeline.extract.ocr_scripts import models_for_script
from rag_pipeline.extract.pdf import OcrOptions, ocr_unavailable_reason
from rag_pipeline.ids import document_id_for, file_hash, shard_for
from rag_pipeline.records import DocumentFailure, ExtractedDocument, SourceFile
from tests.fixtures import (
    write_docx,
    write_email,
    write_pdf,
    write_scan_in_any_script,
    write_scanned_pdf,
    write_text,
)
from tests.scripts_samples import SAMPLES


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


def test_unstructured_formats_are_read_without_language_detection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its language metadata is never read, and it cost 14 % of unstructured's CPU."""
    import unstructured.partition.common.lang as lang

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("language detection ran")

    monkeypatch.setattr(lang, "detect_langs", refuse)
    files = [
        write_docx(tmp_path / "a.docx", "Report", [("Findings", "The pump failed twice.")]),
        write_text(tmp_path / "b.html", "<h1>Prices</h1><p>Tea costs three pounds a cup.</p>"),
        write_text(tmp_path / "c.txt", "Le thé coûte trois livres.\n\nTea costs three pounds."),
        write_email(tmp_path / "d.eml", EMAIL_BODY,
                    [("notes.txt", b"Alice covers the first week of March.", "text/plain")]),
    ]
    for path in files:
        assert extract_ok(path, tmp_path).elements


EMAIL_BODY = "The on-call rota for the next quarter is attached. Swap shifts by Friday."

MARKDOWN = """# Runbook

## Restart

When the queue stalls, restart the worker. Then check the dashboard. It should drain in
minutes.

| Service | Owner |
|---|---|
| billing | Ana |
| search | Raj |

```
systemctl restart worker
```

- first item of a list
- second item

Short line
"""


@pytest.mark.parametrize(("name", "text"), [
    ("runbook.md", MARKDOWN), ("notes.markdown", MARKDOWN),
    ("ticket.txt", "TICKET 4411\n\nThe invoice was charged twice. Support refunded it.\n\n"
                   "Resolved\n\n1. Checked logs\n2. Refunded\n"),
    ("legacy.text", "Caf\u00e9 menu\n\nCr\u00e8me br\u00fbl\u00e9e is served on Fridays. "
                    "Book ahead.\n"),
])
def test_plain_text_formats_skip_type_sniffing_with_the_same_elements(
        tmp_path: Path, name: str, text: str) -> None:
    """Markdown and text go straight to their partitioner (sniffing the type cost more than
    partitioning a short file); the elements must be those `partition` gives."""
    from unstructured.partition.auto import partition

    from rag_pipeline.extract.text_encoding import detect_text_encoding
    from rag_pipeline.extract.unstructured_formats import (
        _DECLARED_LANGUAGES,
        _partitioner,
        extract_with_unstructured,
    )

    path = tmp_path / name
    path.write_bytes(text.encode("cp1252" if name.endswith(".text") else "utf-8"))
    extract_with_unstructured(path)  # the packaged spaCy model is in place
    assert _partitioner(path.suffix) is not partition

    def elements(partitioner: object) -> list[tuple[str, str, str | None]]:
        found = partitioner(filename=str(path), encoding=detect_text_encoding(path),
                            languages=_DECLARED_LANGUAGES)
        return [(e.category, e.text, getattr(e.metadata, "text_as_html", None))
                for e in found]

    direct = elements(_partitioner(path.suffix))
    assert direct == elements(partition)
    if name.startswith(("runbook", "notes")):
        kinds = {kind for kind, _, _ in direct}
        assert {"Title", "NarrativeText", "Table", "CodeSnippet", "ListItem"} <= kinds


def test_an_email_keeps_its_body_and_readable_attachments(tmp_path: Path) -> None:
    path = write_email(tmp_path / "rota.eml", EMAIL_BODY,
                       [("notes.txt", b"Alice covers the first week of March.", "text/plain")])
    texts = [e.text for e in extract_ok(path, tmp_path).elements]
    assert texts == [EMAIL_BODY, "Alice covers the first week of March."]


def test_an_email_with_an_unreadable_attachment_keeps_its_body(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # unstructured has no reader for audio here: it fails the whole message.
    recording = b"ID3\x03\x00\x00\x00" + bytes(500)
    path = write_email(tmp_path / "call.eml", EMAIL_BODY, [("call.mp3", recording, "audio/mpeg")])
    with caplog.at_level("WARNING", logger="rag_pipeline"):
        document = extract_ok(path, tmp_path)
    assert [e.text for e in document.elements] == [EMAIL_BODY]
    assert any("call.eml: attachments left out" in r.getMessage() for r in caplog.records)

    # With no text of its own, the message fails with the attachment's error.
    empty = write_email(tmp_path / "empty.eml", "", [("call.mp3", recording, "audio/mpeg")])
    failure = extract_document(pending(empty, tmp_path))
    assert isinstance(failure, DocumentFailure)
    assert failure.error.startswith("cannot parse EML file:")


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


SCANNED = ["The lighthouse keeper climbed ninety steps every evening to light the lamp.",
           "Fog horns warned ships away from the rocks when the light could not be seen."]


def test_image_only_pdf_without_ocr_fails_clearly(tmp_path: Path) -> None:
    path = write_scanned_pdf(tmp_path / "scan.pdf", SCANNED)
    result = extract_document(pending(path, tmp_path), ocr=OcrOptions(language=""))
    assert isinstance(result, DocumentFailure)
    assert result.error.startswith("no text layer (image-only PDF) and OCR disabled")


@pytest.mark.skipif(ocr_unavailable_reason() is not None,
                    reason="tesseract-ocr is not installed (scripts/test.sh installs it)")
def test_image_only_pdf_is_read_by_ocr_with_page_numbers(tmp_path: Path) -> None:
    path = write_scanned_pdf(tmp_path / "scan.pdf", SCANNED)
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, ExtractedDocument), result
    def page_text(number: int) -> str:
        return " ".join(" ".join(e.text for e in result.elements
                                 if e.page_number == number).split())

    assert "lighthouse keeper climbed ninety steps" in page_text(1)
    assert "Fog horns warned ships" in page_text(2)


@pytest.mark.skipif(ocr_unavailable_reason() is not None,
                    reason="tesseract-ocr is not installed (scripts/test.sh installs it)")
@pytest.mark.parametrize("rotate", [90, 180])
def test_a_scan_placed_sideways_or_upside_down_is_read_upright(tmp_path: Path,
                                                                rotate: int) -> None:
    path = write_scanned_pdf(tmp_path / "scan.pdf", SCANNED[:1], rotate=rotate)
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, ExtractedDocument), result
    text = " ".join(" ".join(e.text for e in result.elements).split())
    assert "lighthouse keeper climbed ninety steps" in text


@pytest.mark.skipif(ocr_unavailable_reason() is not None,
                    reason="tesseract-ocr is not installed (scripts/test.sh installs it)")
def test_a_scan_keeps_its_heading_but_not_a_list_set_a_size_above_the_body(
        tmp_path: Path) -> None:
    body = ("The keeper wrote the weather into the log at noon and again at dusk, noting the "
            "wind, the height of the sea and every ship that passed the point. ")
    path = write_scanned_pdf(tmp_path / "scan.pdf", [[
        ("Lighthouse Keeping", 28), (body * 3, 11), ("Check the lamp every evening.", 13),
        (body * 2, 11), ("Clean the lens every morning.", 13), (body * 3, 11)]])
    document = extract_ok(path, tmp_path)
    titles = [" ".join(e.text.split()) for e in document.elements if e.element_type == "Title"]
    assert titles == ["Lighthouse Keeping"]
    text = " ".join(" ".join(e.text for e in document.elements).split())
    assert "Check the lamp every evening." in text and "Clean the lens every morning." in text


@pytest.mark.skipif(ocr_unavailable_reason() is not None,
                    reason="tesseract-ocr is not installed (scripts/test.sh installs it)")
def test_a_scan_on_a_huge_page_is_read_at_its_own_resolution(tmp_path: Path) -> None:
    import pymupdf

    scan = pymupdf.open(write_scanned_pdf(tmp_path / "letter.pdf", SCANNED[:1]))
    image = scan.extract_image(scan[0].get_images()[0][0])["image"]
    poster = pymupdf.open()
    # 200 x 400 inches: 3.2 gigapixels at the usual OCR resolution
    poster.new_page(width=14400, height=28800).insert_image(pymupdf.Rect(0, 0, 14400, 28800),
                                                            stream=image)
    path = tmp_path / "poster.pdf"
    poster.save(path)
    document = extract_ok(path, tmp_path)
    text = " ".join(" ".join(e.text for e in document.elements).split())
    assert "lighthouse keeper climbed ninety steps" in text


@pytest.mark.skipif(ocr_unavailable_reason() is not None,
                    reason="tesseract-ocr is not installed (scripts/test.sh installs it)")
def test_ocr_stops_at_its_page_limit(tmp_path: Path) -> None:
    path = write_scanned_pdf(tmp_path / "scan.pdf", SCANNED)
    result = extract_document(pending(path, tmp_path), ocr=OcrOptions(max_pages=1))
    assert isinstance(result, ExtractedDocument)
    assert {e.page_number for e in result.elements} == {1}


def test_a_blank_picture_without_text_fails_clearly(tmp_path: Path) -> None:
    import pymupdf

    document = pymupdf.open()
    page = document.new_page()
    page.draw_rect(pymupdf.Rect(50, 50, 200, 200), fill=(0, 0, 0))
    path = tmp_path / "drawing.pdf"
    document.save(path)
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, DocumentFailure)
    assert result.error.startswith("no text: 1 page(s) without a text layer or images")


TEXT = "Café au lait, naïve résumé — “quotes” in the Straße of Zürich.\n\nCrème brûlée follows.\n"


@pytest.mark.parametrize(("name", "encoding"), [
    ("windows.txt", "cp1252"), ("latin.md", "latin-1"), ("wide.txt", "utf-16"),
    ("bom.txt", "utf-8-sig"),
])
def test_non_utf8_text_decodes_without_mojibake(tmp_path: Path, name: str, encoding: str) -> None:
    text = TEXT.replace("—", "-").replace("“", '"').replace("”", '"') \
        if encoding == "latin-1" else TEXT
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    document = extract_ok(path, tmp_path)
    extracted = " ".join(e.text for e in document.elements)
    assert "naïve résumé" in extracted and "Crème brûlée" in extracted and "Zürich" in extracted


def test_utf8_text_with_c1_control_characters_stays_utf8(tmp_path: Path) -> None:
    # As in SciFact: a few C1 controls (U+0094 U+0082) in an otherwise clean UTF-8 abstract.
    text = "Correlated with GSK-3β (|\x94\x82 R | = 0.28) in ProtoArray® assays. " * 3
    path = write_text(tmp_path / "abstract.md", text)
    document = extract_ok(path, tmp_path)
    extracted = " ".join(e.text for e in document.elements)
    assert "GSK-3β" in extracted and "ProtoArray®" in extracted and "Î" not in extracted


def test_binary_junk_named_txt_fails_with_a_reason(tmp_path: Path) -> None:
    import random

    path = tmp_path / "notes.txt"
    rng = random.Random(7)
    path.write_bytes(bytes(rng.randrange(256) for _ in range(4000)))
    result = extract_document(pending(path, tmp_path))
    assert isinstance(result, DocumentFailure)
    assert result.error.startswith("cannot decode text file: binary content")


def test_a_pdf_with_a_wrong_extension_is_read_as_a_pdf(tmp_path: Path) -> None:
    source = write_pdf(tmp_path / "report.pdf", [[("p", "Quarterly figures improved.")]])
    path = source.rename(tmp_path / "report.docx")
    document = extract_ok(path, tmp_path)
    assert "Quarterly figures improved." in document.elements[0].text


def test_a_docx_named_pdf_fails_or_reads_but_never_crashes(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "memo.docx", "Memo", [("Body", "Lunch is at noon.")])
    path = source.rename(tmp_path / "memo.pdf")
    result = extract_document(pending(path, tmp_path))
    if isinstance(result, DocumentFailure):
        assert result.error.startswith("not a valid PDF")
    else:
        assert "Lunch is at noon." in " ".join(e.text for e in result.elements)


def test_an_oversize_file_fails_before_it_is_parsed(tmp_path: Path) -> None:
    path = write_text(tmp_path / "big.txt", "word " * 300_000)
    result = extract_document(pending(path, tmp_path), max_file_bytes=1024 * 1024)
    assert isinstance(result, DocumentFailure)
    assert result.error == "exceeds 1 MiB file size limit (1.4 MiB)"


def test_too_many_pages_fail_with_the_limit_in_the_reason(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "long.pdf", [[("p", f"Page {i}.")] for i in range(12)])
    result = extract_document(pending(path, tmp_path), max_pages=10)
    assert isinstance(result, DocumentFailure)
    assert result.error == "exceeds 10 pages limit (12 pages)"


def test_orientation_detection_reads_rotation_and_script(monkeypatch: pytest.MonkeyPatch) -> None:
    osd = ("Page number: 0\nOrientation in degrees: 180\nRotate: 180\n"
           "Orientation confidence: 9.1\nScript: Devanagari\nScript confidence: 3.2\n")
    monkeypatch.setattr(tesseract, "run_tesseract", lambda image, args, tessdata: osd)
    assert tesseract.detected_orientation(b"", None) == tesseract.Orientation(180, "Devanagari")


def test_a_script_is_read_with_its_installed_models_only() -> None:
    installed = frozenset({"eng", "osd", "hin", "rus", "script/Cyrillic"})
    assert models_for_script("Devanagari", installed) == "hin"
    assert models_for_script("Cyrillic", installed) == "script/Cyrillic+rus"
    assert models_for_script("Han", installed) is None
    assert models_for_script("Latin", installed) is None
    assert models_for_script(None, installed) is None


def _hindi_model_installed() -> bool:
    return (ocr_unavailable_reason() is None
            and "hin" in tesseract.installed_languages(pdf_module._tessdata()))


HINDI = SAMPLES["devanagari"]


@pytest.mark.skipif(not _hindi_model_installed(),
                    reason="tesseract-ocr-hin is not installed (scripts/test.sh installs it)")
def test_a_scan_in_another_script_is_read_with_that_script_s_model(tmp_path: Path) -> None:
    path = write_scan_in_any_script(tmp_path / "scan.pdf", HINDI)
    document = extract_ok(path, tmp_path)
    text = " ".join(" ".join(e.text for e in document.elements).split())
    assert "राजधानी नई दिल्ली" in text, text
    assert document.language == "hi"


@pytest.mark.skipif(ocr_unavailable_reason() is not None,
                    reason="tesseract-ocr is not installed (scripts/test.sh installs it)")
def test_a_scan_in_a_script_without_a_model_is_read_as_configured_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(pdf_module, "installed_languages", lambda tessdata: frozenset({"eng"}))
    path = write_scan_in_any_script(tmp_path / "scan.pdf", HINDI)
    result = extract_document(pending(path, tmp_path))
    assert "looks like Devanagari script and no Tesseract model for it is installed" in (
        caplog.text)
    if isinstance(result, ExtractedDocument):  # English letters read out of Devanagari
        assert "दिल्ली" not in " ".join(e.text for e in result.elements)
