"""Titles and tags people give documents: front matter, sidecar files; a change re-processes."""

from __future__ import annotations

import logging

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline.document_metadata import UserMetadata, from_mapping, split_front_matter
from rag_pipeline.filters import SearchFilter
from rag_pipeline.ledger import Ledger
from rag_pipeline.search import Searcher
from rag_pipeline.settings import Settings
from rag_pipeline.watch import pending_changes
from tests.fixtures import write_text
from tests.test_pipeline import index_sizes

GUIDE = ("# Deploying the billing service\n\nThe billing service is deployed every Tuesday "
         "after the integration tests pass on the staging cluster.\n")


def test_tags_come_from_lists_strings_and_plain_keys() -> None:
    assert from_mapping({"Title": " Leave ", "tags": "hr, policy", "team": "people",
                         "count": 3, "nested": {"a": 1}}) == UserMetadata(
        "Leave", ("hr", "policy", "team=people", "count=3"))
    assert from_mapping({"tags": {"team": "hr"}}).tags == ("team=hr",)
    assert from_mapping({"tags": ["a", "a", " b  c "]}).tags == ("a", "b c")
    assert not from_mapping({})


def test_front_matter_is_split_from_the_text() -> None:
    meta, body = split_front_matter("---\ntitle: A\ntags: [x]\n---\n# Body\n\nText.\n")
    assert meta == {"title": "A", "tags": ["x"]}
    assert body == "# Body\n\nText.\n"
    for text in ("---\njust: [unclosed\n---\ntext\n",  # not YAML: it stays text
                 "# No front matter\n---\nkey: value\n---\n",  # not at the top
                 "---\n- a list\n---\ntext\n"):  # not a mapping
        assert split_front_matter(text) == ({}, text)


def tagged(settings: Settings, *tags: str) -> list[str]:
    hits = Searcher(settings).search("billing service deployed", k=10, mode="hybrid",
                                     where=SearchFilter(tags=tags))
    return sorted({hit.chunk.source_path for hit in hits})


def test_a_changed_sidecar_re_processes_its_document(settings: Settings) -> None:
    settings = Settings(source_dir=settings.source_dir, data_dir=settings.data_dir,
                        golden_set=None)
    write_text(settings.source_dir / "ops" / "deploy.md", GUIDE)
    sidecar = write_text(settings.source_dir / "ops" / "deploy.md.meta.json",
                         '{"tags": ["draft"], "team": "billing"}')
    run_ingest(settings)
    assert tagged(settings, "draft") == tagged(settings, "team=billing") == ["ops/deploy.md"]

    sidecar.write_text('{"tags": ["final"]}', encoding="utf-8")
    # settle_seconds=0: on a fast host the first run ends within the default settle time of
    # the document's own writing, and the sensor would wait for it to settle.
    pending = pending_changes(settings, Ledger(settings.ledger_path), settle_seconds=0)
    assert [s.relative_path for s in pending.changed] == ["ops/deploy.md"]  # the sensor sees it
    report = run_ingest(settings)["extracted_documents"]
    assert report["num_documents_changed"] == 1
    assert tagged(settings, "draft") == [] and tagged(settings, "final") == ["ops/deploy.md"]
    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25 > 0  # the same chunks, new payloads: no duplicates

    sidecar.unlink()
    assert run_ingest(settings)["extracted_documents"]["num_documents_changed"] == 1
    assert tagged(settings, "final") == []
    [facts] = {c.facts for c in Ledger(settings.ledger_path).iter_chunks()}
    assert facts is not None and facts.tags == ()
    assert facts.title == "Deploying the billing service"  # the first heading


def test_a_malformed_sidecar_is_skipped_with_a_warning(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(source_dir=settings.source_dir, data_dir=settings.data_dir,
                        golden_set=None)
    write_text(settings.source_dir / "deploy.md", GUIDE)
    write_text(settings.source_dir / "deploy.md.meta.json", '{"tags": ["draft"')
    with caplog.at_level(logging.WARNING):
        reports = run_ingest(settings)
    assert reports["extracted_documents"]["num_documents_new"] == 1  # the sidecar is not one
    assert "ignoring deploy.md.meta.json" in caplog.text
    assert Ledger(settings.ledger_path).num_chunks() > 0


def test_only_markdown_that_starts_with_dashes_is_read_for_front_matter(tmp_path) -> None:
    from rag_pipeline.document_metadata import may_have_front_matter, read_front_matter

    with_bom = write_text(tmp_path / "a.md", "\ufeff---\ntags: [x]\n---\nText.\n")
    plain = write_text(tmp_path / "b.md", "# Title\n\n---\ntags: [x]\n---\n")
    text = write_text(tmp_path / "c.txt", "---\ntags: [x]\n---\n")
    assert may_have_front_matter(with_bom) and read_front_matter(with_bom).tags == ("x",)
    assert not may_have_front_matter(plain) and not read_front_matter(plain)
    assert not may_have_front_matter(text)
