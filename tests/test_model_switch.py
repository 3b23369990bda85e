"""Changing the embedding model: backfill beside the old collection, then an atomic swap."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline.pipeline.publish import publish, rollback
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.search import Searcher
from rag_pipeline.settings import QdrantSettings, Settings
from tests.fixtures import write_knowledge_base
from tests.tiny_model import build_tiny_model

QUESTION = "Sicilian Defence chess opening"
IN_PROCESS = {"embedding_workers": 1}
"""Model B embeds in the test's process: worker processes serve one model at a time, so B in
workers would stop model A's, and every switch back would start them again (10-20 s each)."""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("models")))


@pytest.fixture
def model_a(settings: Settings) -> Settings:
    write_knowledge_base(settings.source_dir)
    run_ingest(settings)
    return settings


def points_by_collection(settings: Settings) -> dict[str, int]:
    services = PipelineServices(settings)
    return {name: services.qdrant.count(name) or 0 for name in services.qdrant.collections()}


def test_backfill_swap_rollback_and_back(model_a: Settings, tiny_model: str) -> None:
    import logging

    log = logging.getLogger("test")
    a_services = PipelineServices(model_a)
    collection_a = a_services.target_collection
    chunks = a_services.ledger.num_chunks()
    before = [h.chunk.chunk_id for h in Searcher(model_a).search(QUESTION, k=3, mode="dense")]

    model_b = replace(model_a, embedding_model=tiny_model, golden_set=None, **IN_PROCESS)
    b_services = PipelineServices(model_b)
    collection_b = b_services.target_collection
    assert collection_b != collection_a and "tiny-model" in collection_b

    # Backfill half of the shards: the new collection fills, readers still see A.
    half = [f"{i:02d}" for i in range(8)]
    reports = run_ingest(model_b, shards=half)
    assert reports["chunk_embeddings"]["num_shards_filled"] == 8
    assert reports["bm25_index"]["rebuilt"] is False  # BM25 does not depend on the model
    assert reports["published_collection"]["published"] is False
    assert "not yet filled" in str(reports["published_collection"]["reason"])
    counts = points_by_collection(model_a)
    assert counts[collection_a] == chunks and 0 < counts[collection_b] < chunks
    assert a_services.qdrant.live() == collection_a
    during = [h.chunk.chunk_id for h in Searcher(model_b).search(QUESTION, k=3, mode="dense")]
    assert during == before  # answered by A, with A's model, although B is configured

    # The rest of the shards: everything is in B, the alias moves in one swap.
    reports = run_ingest(model_b, shards=[f"{i:02d}" for i in range(8, 16)])
    assert reports["published_collection"]["published"] is True
    assert b_services.qdrant.live() == collection_b
    assert points_by_collection(model_a) == {collection_a: chunks, collection_b: chunks}
    hits = Searcher(model_a).search(QUESTION, k=3, mode="dense")  # embedded with B's model now
    assert len(hits) == 3
    assert b_services.qdrant.dimension(collection_b) == 32

    # Rollback is one call, and the rolled-back collection is not re-published by itself.
    assert rollback(b_services) == (collection_b, collection_a)
    assert a_services.qdrant.live() == collection_a
    report, _ = publish(b_services, log)
    assert report["published"] is False and "rolled back" in str(report["reason"])
    report, _ = publish(b_services, log, force=True)
    assert report["published"] is True and b_services.qdrant.live() == collection_b

    # B -> A: A's vectors are reused, nothing is embedded, A goes live again.
    reports = run_ingest(model_a)
    assert reports["chunk_embeddings"]["num_chunks_embedded"] == 0
    assert reports["published_collection"]["published"] is True
    assert a_services.qdrant.live() == collection_a


def test_a_collection_that_fails_its_checks_is_not_published(
        model_a: Settings, tiny_model: str, tmp_path: Path) -> None:
    golden = tmp_path / "golden.json"
    # Expectations the new collection cannot meet: its smoke check fails, the alias stays.
    golden.write_text(json.dumps([{"question": QUESTION, "expected": "volcanoes.md"},
                                  {"question": "bee swarm", "expected": "bread.html"}]))
    quality = replace(model_a.quality, retrieval_k=1, min_retrieval_recall=1.0)
    model_b = replace(model_a, embedding_model=tiny_model, golden_set=golden, quality=quality,
                      **IN_PROCESS)
    live_before = PipelineServices(model_a).qdrant.live()
    reports = run_ingest(model_b)
    assert reports["published_collection"]["published"] is False
    assert "dense recall@1" in str(reports["published_collection"]["reason"])
    assert PipelineServices(model_b).qdrant.live() == live_before
    passed = reports["checks"]["published_collection_retrieval_smoke"][0]
    assert passed is False


def test_changed_documents_during_migration_reach_the_new_collection(
        model_a: Settings, tiny_model: str) -> None:
    model_b = replace(model_a, embedding_model=tiny_model, golden_set=None, **IN_PROCESS)
    run_ingest(model_b, shards=[f"{i:02d}" for i in range(16)])
    (model_a.source_dir / "bread.html").unlink()
    run_ingest(model_b)  # B is live and the target: deltas as usual
    run_ingest(model_a)  # back to A: A missed the deletion and must catch up
    services = PipelineServices(model_a)
    assert services.qdrant.count(services.target_collection) == services.ledger.num_chunks()
    sources = {h.chunk.source_path for h in Searcher(model_a).search("sourdough", k=10)}
    assert "bread.html" not in sources


def test_switch_to_the_second_real_model_served_by_onnx(model_a: Settings) -> None:
    """paraphrase-MiniLM-L3-v2 ships as a bare ONNX file: it embeds, backfills and goes live."""
    model_b = replace(model_a, embedding_model="paraphrase-MiniLM-L3-v2", golden_set=None,
                      **IN_PROCESS)
    services = PipelineServices(model_b)
    assert services.model.backend == "onnx" and services.model.max_seq_length == 128
    reports = run_ingest(model_b)
    assert reports["chunk_embeddings"]["num_chunks_embedded"] > 0
    assert reports["published_collection"]["published"] is True
    live = services.qdrant.live()
    assert live is not None and "paraphrase-minilm-l3-v2" in live
    assert services.qdrant.dimension(live) == 384
    hits = Searcher(model_b).search("which chess opening starts with the Sicilian", k=1,
                                    mode="dense")
    assert hits[0].chunk.source_path == "chess.txt"


def test_an_index_in_another_store_is_filled_from_the_cache_in_one_run(
        settings: Settings) -> None:
    """Upgrade in place: a deployment indexed by another engine (as an older release's index
    is, in another schema) gets the whole new collection in its first run, even a run of one
    shard, with nothing embedded again, and searches answer from it."""
    write_knowledge_base(settings.source_dir)
    before = replace(settings, qdrant=QdrantSettings(embedded="local-mode"))
    run_ingest(before)
    chunks = PipelineServices(before).ledger.num_chunks()
    after = replace(settings, qdrant=QdrantSettings(embedded="edge"))
    reports = run_ingest(after, shards=["00"])
    assert reports["chunk_embeddings"]["num_chunks_embedded"] == 0
    services = PipelineServices(after)
    live = services.qdrant.live()
    assert live == services.target_collection and services.qdrant.count(live) == chunks
    assert services.registry.stale_shards(live, [f"{i:02d}" for i in range(16)],
                                          services.ledger.shard_generations()) == []
    hits = Searcher(after).search("why do bee colonies swarm in spring", k=1)
    assert hits[0].chunk.source_path == "beekeeping.docx"
