"""Documents in several languages through the whole pipeline, and an upgrade in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline import cli
from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.ledger import FAILED, Ledger
from rag_pipeline.search import Searcher
from rag_pipeline.settings import Settings
from tests.fixtures import write_text
from tests.scripts_samples import SAMPLES

DOCUMENTS = {
    "hindi.md": ("devanagari", "hi"),
    "tamil.txt": ("tamil", "ta"),
    "burmese.txt": ("burmese", "my"),
    "khmer.md": ("khmer", "km"),
    "chinese.txt": ("chinese", "zh"),
    "thai.html": ("thai", "th"),
}


def _write_folder(folder: Path) -> None:
    for name, (script, _) in DOCUMENTS.items():
        text = SAMPLES[script]
        if name.endswith(".html"):
            text = f"<html><body><p>{text}</p></body></html>"
        elif name.endswith(".md"):
            text = f"# {text.split()[0]}\n\n{text}\n"
        write_text(folder / name, text)


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("languages")
    _write_folder(root / "source")
    settings = Settings(source_dir=root / "source", data_dir=root / "data")
    reports = run_ingest(settings)
    assert reports["extracted_documents"]["num_documents_new"] == len(DOCUMENTS)
    return settings


def test_no_document_in_any_script_is_quarantined(multilingual: Settings) -> None:
    ledger = Ledger(multilingual.ledger_path)
    assert ledger.status_counts()[FAILED] == 0, [
        (d.source_path, d.error) for d in ledger.failed_documents()]


def test_each_document_language_is_recorded_in_ledger_and_payload(
        multilingual: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    ledger = Ledger(multilingual.ledger_path)
    languages = {d.source_path: d.language for d in ledger.documents().values()}
    assert languages == {name: language for name, (_, language) in DOCUMENTS.items()}
    for chunk in ledger.iter_chunks():
        assert chunk.payload()["language"] == languages[chunk.source_path]
    monkeypatch.setenv("RAG_DATA_DIR", str(multilingual.data_dir))
    monkeypatch.setenv("RAG_SOURCE_DIR", str(multilingual.source_dir))
    assert cli.main(["status"]) == 0
    assert "languages: hi 1, km 1, my 1, ta 1, th 1, zh 1" in capsys.readouterr().out


@pytest.mark.parametrize(("query", "expected"), [
    ("北京 首都", "chinese.txt"), ("กรุงเทพมหานคร", "thai.html"),
    ("ភ្នំពេញ", "khmer.md"), ("मयनम", None),
    ("राजधानी दिल्ली", "hindi.md"), ("மொழியாகும்", "tamil.txt"),
    ("မြန်မာနိုင်ငံ", "burmese.txt"),
])
def test_bm25_search_finds_words_in_every_script(multilingual: Settings, query: str,
                                                 expected: str | None) -> None:
    hits = Searcher(multilingual).search(query, k=3, mode="bm25")
    if expected is None:
        assert hits == []
    else:
        assert hits and hits[0].chunk.source_path == expected


def test_an_index_from_before_languages_is_upgraded_without_extracting_or_embedding(
        tmp_path: Path) -> None:
    _write_folder(tmp_path / "source")
    settings = Settings(source_dir=tmp_path / "source", data_dir=tmp_path / "data")
    run_ingest(settings)
    # What the previous release left: no language column, no language in any payload, and a
    # BM25 file of the old format.
    with sqlite3.connect(settings.ledger_path) as conn:
        rows = conn.execute("SELECT chunk_id, payload FROM chunks").fetchall()
        for chunk_id, payload in rows:
            data = json.loads(payload)
            data.pop("language")
            conn.execute("UPDATE chunks SET payload = ? WHERE chunk_id = ?",
                         (json.dumps(data, ensure_ascii=False), chunk_id))
        conn.execute("ALTER TABLE documents DROP COLUMN language")
    settings.bm25_path.write_bytes(b"old format")

    reports = run_ingest(settings)

    assert reports["extracted_documents"]["num_documents_unchanged"] == len(DOCUMENTS)
    assert reports["chunk_embeddings"]["num_chunks_embedded"] == 0
    ledger = Ledger(settings.ledger_path)
    assert {d.source_path: d.language for d in ledger.documents().values()} == {
        name: language for name, (_, language) in DOCUMENTS.items()}
    index = BM25Index.load(settings.bm25_path)
    assert set(index.language_counts) == {language for _, language in DOCUMENTS.values()}
    hits = Searcher(settings).search("北京 首都", k=1, mode="bm25")
    assert hits and hits[0].chunk.source_path == "chinese.txt"
