"""Asset checks in real runs: blocking failures keep bad batches out of both indexes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from assets.ingest_run import IngestError, run_ingest
from rag_pipeline.chunking import Chunker
from rag_pipeline.pipeline.checks import bm25_index_checks, qdrant_index_checks
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import QdrantSettings, Settings
from tests.fixtures import write_knowledge_base, write_text
from tests.tamper import add_orphan, rewrite_point
from tests.test_pipeline import index_sizes


@pytest.fixture
def indexed(settings: Settings) -> Settings:
    write_knowledge_base(settings.source_dir)
    reports = run_ingest(settings)
    failed = {name: text for name, (passed, text) in reports["checks"].items() if not passed}
    assert failed == {}
    assert len(reports["checks"]) == 19
    return settings


def test_a_garbled_batch_stays_out_of_both_indexes(indexed: Settings) -> None:
    """Systematic damage (every document partly garbled) blocks the whole batch."""
    before = index_sizes(indexed)
    for i in range(10):
        write_text(indexed.source_dir / "menus" / f"menu{i}.md", (
            f"# Menu {i}\n\n## Starters\n\nSoup of the day number {i} with fresh bread.\n\n"
            f"## Mains\n\nRoast chicken number {i} with potatoes and greens.\n\n"
            f"## Desserts\n\nCafÃ© crÃ¨me brÃ»lÃ©e number {i}.\n"))
    with pytest.raises(IngestError, match="document_chunks_garbled_share"):
        run_ingest(indexed)
    assert index_sizes(indexed) == before
    paths = {d.source_path for d in PipelineServices(indexed).ledger.documents().values()}
    assert not any(p.startswith("menus/") for p in paths)


def test_a_chunker_miscount_blocks_the_batch(indexed: Settings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The token-limit check recounts with the model's tokenizer: a chunker whose counts are
    off by one token (far under the limit) still stops the batch before embedding."""
    before = index_sizes(indexed)
    counts = Chunker._index_text_counts
    monkeypatch.setattr(Chunker, "_index_text_counts",
                        lambda self, items, known: [n - 1 for n in counts(self, items, known)])
    write_text(indexed.source_dir / "tides.md", "# Tides\n\nThe moon raises the tides twice "
               "a day, and the sun adds spring and neap tides.\n")
    with pytest.raises(IngestError, match="document_chunks_within_token_limit"):
        run_ingest(indexed)
    assert index_sizes(indexed) == before


def test_a_garbled_document_is_quarantined_and_the_rest_indexed(indexed: Settings) -> None:
    write_text(indexed.source_dir / "menu.md",
               "# Menu\n\nCafÃ© crÃ¨me brÃ»lÃ©e and tartes Ã  la crÃ¨me.\n")
    write_text(indexed.source_dir / "tides.md", "# Tides\n\nThe moon raises the tides.\n")
    reports = run_ingest(indexed)
    assert reports["qdrant_index"]["num_documents_indexed"] == 1
    [failed] = PipelineServices(indexed).ledger.failed_documents()
    assert (failed.source_path, failed.error) == (
        "menu.md", "garbled text (mojibake in 1 of 1 chunks)")
    points, chunks, bm25 = index_sizes(indexed)
    assert points == chunks == bm25


def test_a_broken_document_among_good_ones(settings: Settings) -> None:
    write_knowledge_base(settings.source_dir)
    (settings.source_dir / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF")
    reports = run_ingest(settings)
    passed = {name: ok for name, (ok, _) in reports["checks"].items()}
    assert passed["qdrant_index_failed_documents"] is False  # WARN, lists it
    assert all(ok for name, ok in passed.items() if name != "qdrant_index_failed_documents")
    assert reports["qdrant_index"]["num_documents_indexed"] == 5


def test_index_checks_catch_orphans_and_mismatches(indexed: Settings) -> None:
    services = PipelineServices(indexed)
    clean = qdrant_index_checks(services)
    assert clean["no_orphans"].passed and clean["payload_matches"].passed
    add_orphan(services, "00000000-0000-0000-0000-000000000001")
    outcomes = qdrant_index_checks(services)
    assert not outcomes["no_orphans"].passed
    assert outcomes["no_orphans"].metadata["num_orphans"] == 1
    counts = bm25_index_checks(services)["counts_match"]
    assert not counts.passed and counts.metadata["qdrant_points"] == counts.metadata[
        "ledger_chunks"] + 1


def test_payload_check_samples_every_point_when_small(indexed: Settings) -> None:
    services = PipelineServices(indexed)
    some_id = services.ledger.chunk_id_list()[0]
    rewrite_point(services, some_id, payload={
        **services.ledger.get_chunks([some_id])[some_id].payload(), "text": "tampered"})
    outcome = qdrant_index_checks(services)["payload_matches"]
    assert not outcome.passed and outcome.metadata["worst"][0]["chunk_id"] == some_id


def test_retrieval_smoke_uses_the_golden_set(indexed: Settings, tmp_path: Path) -> None:
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps([
        {"question": "Sicilian Defence chess opening", "expected": "chess.txt"},
        {"question": "geostationary orbit altitude", "expected": "space/satellites.pdf"},
    ]))
    # k=1: with five documents, any top 5 would hold nearly all of them.
    quality = replace(indexed.quality, retrieval_k=1)
    services = PipelineServices(replace(indexed, golden_set=golden, quality=quality))
    outcome = bm25_index_checks(services)["retrieval_smoke"]
    assert outcome.passed and outcome.metadata["recall"] == 1.0

    golden.write_text(json.dumps([
        {"question": "Sicilian Defence chess opening", "expected": "volcanoes.md"},
        {"question": "geostationary orbit altitude", "expected": "bread.html"},
    ]))
    outcome = bm25_index_checks(services)["retrieval_smoke"]
    assert not outcome.passed and outcome.metadata["recall"] == 0.0
    assert outcome.metadata["misses"][0]["got"][0] == "chess.txt"


def test_golden_set_for_the_sample_inbox_passes(tmp_path: Path) -> None:
    inbox = Path(__file__).resolve().parent.parent / "inbox"
    settings = Settings(source_dir=inbox, data_dir=tmp_path / "data")
    reports = run_ingest(settings)
    passed, text = reports["checks"]["bm25_index_retrieval_smoke"]
    assert passed, text
    assert "on 8 golden questions" in text


def test_the_sparse_check_catches_a_sparse_vector_that_scores_otherwise(
        indexed: Settings) -> None:
    services = PipelineServices(indexed)
    clean = bm25_index_checks(services)["sparse_matches"]
    assert clean.passed and clean.metadata["num_queries"] >= 8, clean.description
    chunk = next(iter(services.ledger.get_chunks(services.ledger.chunk_id_list()[:1]).values()))
    query = " ".join(chunk.text.split()[:6])  # a sampled chunk's opening words are a query
    rewrite_point(services, chunk.chunk_id, sparse_scale=3.0)
    broken = bm25_index_checks(services)["sparse_matches"]
    assert not broken.passed
    assert query in broken.metadata["differing_queries"]
    assert broken.metadata["max_score_difference"] > 0.1


def test_unchanged_indexes_are_not_verified_again_but_any_write_is(indexed: Settings) -> None:
    """A no-op run reports the outcomes recorded for the same index state; a point changed
    behind the pipeline's back changes that state, and the checks run (and fail) again."""
    reports = run_ingest(indexed)
    recalled = {name for name, (_, text) in reports["checks"].items()
                if "unchanged since verified" in text}
    assert recalled == {"qdrant_index_no_orphans", "qdrant_index_payload_matches",
                        "bm25_index_counts_match", "bm25_index_retrieval_smoke",
                        "bm25_index_sparse_matches",
                        "published_collection_counts_match",
                        "published_collection_retrieval_smoke"}
    assert reports["published_collection"]["reason"] == "already live"

    services = PipelineServices(indexed)
    some_id = services.ledger.chunk_id_list()[0]
    rewrite_point(services, some_id, payload={
        **services.ledger.get_chunks([some_id])[some_id].payload(), "text": "tampered"})
    reports = run_ingest(indexed)
    passed, text = reports["checks"]["qdrant_index_payload_matches"]
    assert not passed and "unchanged since verified" not in text


def test_index_checks_catch_tampering_on_the_qdrant_client_path(settings: Settings) -> None:
    """The same checks through qdrant-client (local mode standing in for a server): a point
    no document owns and a payload that differs from its chunk are both found."""
    local = replace(settings, qdrant=QdrantSettings(embedded="local-mode"))
    write_knowledge_base(local.source_dir)
    reports = run_ingest(local)
    assert all(passed for passed, _ in reports["checks"].values())
    services = PipelineServices(local)
    some_id = services.ledger.chunk_id_list()[0]
    rewrite_point(services, some_id, payload={
        **services.ledger.get_chunks([some_id])[some_id].payload(), "text": "tampered"})
    add_orphan(services, "00000000-0000-0000-0000-000000000001")
    outcomes = qdrant_index_checks(services)
    assert outcomes["no_orphans"].metadata["num_orphans"] == 1
    assert not outcomes["payload_matches"].passed
    assert outcomes["payload_matches"].metadata["worst"][0]["chunk_id"] == some_id
