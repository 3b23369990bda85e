"""The whole asset graph, materialized in-process on a temporary folder."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from dagster import materialize

import resources.pipeline
from assets import knowledge_base_assets
from assets.ingest_run import run_ingest
from rag_pipeline import search as search_module
from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.ids import all_shard_keys, shard_for
from rag_pipeline.ledger import Ledger
from rag_pipeline.pipeline.checks import same_ranking
from rag_pipeline.pipeline.services import PipelineServices, open_vector_index
from rag_pipeline.ports import VectorIndex
from rag_pipeline.search import Searcher
from rag_pipeline.settings import QdrantSettings, Settings
from resources import settings_resources
from tests.fixtures import write_knowledge_base, write_text
from tests.host_speed import budget
from tests.knowledge_base_defs import kb_assets


def index_sizes(settings: Settings) -> tuple[int, int, int]:
    """(Qdrant points, ledger chunks, BM25 entries)."""
    services = PipelineServices(settings)
    points = services.qdrant.count() or 0
    bm25 = BM25Index.load(settings.bm25_path)
    return points, Ledger(settings.ledger_path).num_chunks(), len(bm25)


def qdrant_ids(settings: Settings) -> set[str]:
    services = PipelineServices(settings)
    live = services.qdrant.live()
    return set(services.qdrant.point_documents(live)) if live else set()


def bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


FIRST_RUN_OPENINGS: dict[str, tuple[int, int]] = {}
"""Per engine: adapters the first run created, and times it opened the store's folder."""


@pytest.fixture(scope="module", params=["edge", "local-mode"])
def knowledge_base(tmp_path_factory: pytest.TempPathFactory,
                   request: pytest.FixtureRequest) -> Settings:
    """The same folder indexed on Qdrant Edge (the embedded default) and on qdrant-client's
    local mode (the stand-in for a Qdrant server)."""
    root = tmp_path_factory.mktemp("kb")
    (root / "source").mkdir()
    write_knowledge_base(root / "source")
    settings = Settings(source_dir=root / "source", data_dir=root / "data",
                        qdrant=QdrantSettings(embedded=request.param))
    adapters: list[VectorIndex] = []
    opens = [0]

    def counting_factory(settings: Settings) -> VectorIndex:
        store = open_vector_index(settings)
        adapters.append(store)
        real_open = store._open  # type: ignore[attr-defined]

        def counting_open() -> object:
            opens[0] += 1
            return real_open()

        store._open = counting_open  # type: ignore[attr-defined]
        return store

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resources.pipeline, "open_vector_index", counting_factory)
        reports = run_ingest(settings)
    FIRST_RUN_OPENINGS[request.param] = (len(adapters), opens[0])
    assert reports["extracted_documents"]["num_documents_new"] == 5
    return settings


def test_a_run_opens_its_vector_index_once_and_gives_it_back(knowledge_base: Settings) -> None:
    adapters, opens = FIRST_RUN_OPENINGS[knowledge_base.qdrant.embedded]
    assert adapters == 1  # the resource's, shared by every step
    if knowledge_base.qdrant.embedded == "local-mode":
        assert opens == 1  # each open loads every point: held from first use to teardown
    else:
        assert opens > 1  # Edge opens per call, so searches interleave with the run
    store = open_vector_index(knowledge_base)
    store.lock_timeout_seconds = 1  # type: ignore[attr-defined]
    assert store.count() == index_sizes(knowledge_base)[0]  # the lock was given back


def test_both_indexes_describe_the_same_chunks(knowledge_base: Settings) -> None:
    points, ledger_chunks, bm25_entries = index_sizes(knowledge_base)
    assert points == ledger_chunks == bm25_entries > 5
    ids = {c.chunk_id for c in Ledger(knowledge_base.ledger_path).iter_chunks()}
    assert qdrant_ids(knowledge_base) == ids
    assert set(BM25Index.load(knowledge_base.bm25_path).chunk_ids) == ids


def test_the_ledger_lists_each_shards_chunk_ids(knowledge_base: Settings) -> None:
    ledger = Ledger(knowledge_base.ledger_path)
    shards = all_shard_keys()
    expected: dict[str, set[str]] = {shard: set() for shard in shards}
    for chunk in ledger.iter_chunks():
        expected[shard_for(chunk.document_id)].add(chunk.chunk_id)
    assert ledger.chunk_ids_by_shard(shards) == expected
    assert sum(map(len, expected.values())) > 5
    assert ledger.chunk_ids_by_shard([]) == {}


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How high above the equator does a geostationary satellite orbit?",
         "space/satellites.pdf"),
        ("why do bee colonies swarm in spring", "beekeeping.docx"),
        ("what temperature should I bake sourdough at", "bread.html"),
        ("which instruments detect magma before an eruption", "volcanoes.md"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_known_question_finds_its_document_first(knowledge_base: Settings, question: str,
                                                 expected: str, mode: str) -> None:
    hits = Searcher(knowledge_base).search(question, k=3, mode=mode)  # type: ignore[arg-type]
    assert hits[0].chunk.source_path == expected


def test_search_hits_carry_page_and_section(knowledge_base: Settings) -> None:
    hit = Searcher(knowledge_base).search("reusable boosters land on a drone ship", k=1)[0]
    assert hit.chunk.source_path == "space/satellites.pdf"
    assert hit.chunk.page_numbers == (2,)
    assert hit.chunk.section_title == "Launch"


def skip_on_local_mode(settings: Settings) -> None:
    if settings.qdrant.embedded == "local-mode":
        pytest.skip("ledger behaviour, the same on every engine: run once, on Edge")


def test_second_run_extracts_and_embeds_nothing(knowledge_base: Settings) -> None:
    skip_on_local_mode(knowledge_base)
    before = index_sizes(knowledge_base)
    reports = run_ingest(knowledge_base)
    assert reports["extracted_documents"]["num_documents_unchanged"] == 5
    assert reports["extracted_documents"]["num_documents_extracted"] == 0
    assert reports["extracted_documents"]["num_files_hashed"] == 0
    assert reports["chunk_embeddings"]["num_chunks_embedded"] == 0
    assert reports["bm25_index"]["rebuilt"] is False
    assert index_sizes(knowledge_base) == before


def test_touched_but_identical_file_is_not_reprocessed(knowledge_base: Settings) -> None:
    skip_on_local_mode(knowledge_base)
    path = knowledge_base.source_dir / "chess.txt"
    bump_mtime(path)
    reports = run_ingest(knowledge_base)
    assert reports["extracted_documents"]["num_files_hashed"] == 1
    assert reports["extracted_documents"]["num_documents_extracted"] == 0
    # The new mtime is remembered: the next run does not even hash it.
    assert run_ingest(knowledge_base)["extracted_documents"]["num_files_hashed"] == 0


def test_rerunning_a_partition_never_duplicates_points(settings: Settings) -> None:
    write_knowledge_base(settings.source_dir)
    kb = kb_assets(settings)
    run_ingest(settings)
    before = index_sizes(settings)
    shard = next(iter(Ledger(settings.ledger_path).documents().values())).shard
    assert shard in all_shard_keys()
    for _ in range(2):
        result = materialize(knowledge_base_assets(kb), partition_key=shard,
                             resources=settings_resources(kb.name, settings))
        assert result.success
    assert index_sizes(settings) == before


def test_edit_delete_and_failure(settings: Settings) -> None:
    paths = write_knowledge_base(settings.source_dir)
    run_ingest(settings)
    ledger = Ledger(settings.ledger_path)
    volcano_id = next(d for d in ledger.documents().values()
                      if d.source_path == "volcanoes.md").document_id
    old_ids = ledger.chunk_ids([volcano_id])[volcano_id]
    assert len(old_ids) == 2  # one chunk per section

    # Edit one section of one document: only that chunk is embedded again.
    text = paths["volcanoes.md"].read_text()
    paths["volcanoes.md"].write_text(text.replace("weeks", "days"))
    bump_mtime(paths["volcanoes.md"])
    reports = run_ingest(settings)
    assert reports["extracted_documents"]["num_documents_changed"] == 1
    assert reports["chunk_embeddings"]["num_chunks_embedded"] == 1
    assert reports["chunk_embeddings"]["num_chunks_reused"] == 1
    new_ids = ledger.chunk_ids([volcano_id])[volcano_id]
    assert len(new_ids) == 2 and len(new_ids & old_ids) == 1
    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25
    assert old_ids - new_ids <= old_ids and not (old_ids - new_ids) & qdrant_ids(settings)

    # Delete a document: its points leave Qdrant and BM25.
    bread_id = next(d for d in ledger.documents().values()
                    if d.source_path == "bread.html").document_id
    bread_chunks = ledger.chunk_ids([bread_id])[bread_id]
    paths["bread.html"].unlink()
    # And add a broken file next to a good one: the good one is indexed, the bad one recorded.
    (settings.source_dir / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    write_text(settings.source_dir / "new.md", "# Tides\n\nThe moon's gravity raises tides.\n")
    reports = run_ingest(settings)
    assert reports["extracted_documents"]["num_documents_deleted"] == 1
    assert reports["extracted_documents"]["num_documents_failed"] == 1
    assert reports["extracted_documents"]["num_documents_new"] == 2
    remaining = qdrant_ids(settings)
    assert not bread_chunks & remaining
    assert not bread_chunks & set(BM25Index.load(settings.bm25_path).chunk_ids)
    points, chunks, bm25 = index_sizes(settings)
    assert points == chunks == bm25
    hits = Searcher(settings).search("sourdough starter", k=10, mode="bm25")
    assert all(h.chunk.source_path != "bread.html" for h in hits)
    assert Searcher(settings).search("what raises tides", k=1)[0].chunk.source_path == "new.md"
    failed = Ledger(settings.ledger_path).failed_documents()
    assert [(d.source_path, d.error.split(":")[0]) for d in failed] == [
        ("broken.pdf", "not a valid PDF")]

    # A failed document is not retried while its content stays the same.
    reports = run_ingest(settings)
    assert reports["extracted_documents"]["num_documents_failed"] == 0
    assert reports["extracted_documents"]["num_documents_extracted"] == 0


def test_exact_duplicate_documents_are_indexed_once(settings: Settings) -> None:
    body = "# Glaciers\n\nGlaciers carve U-shaped valleys as they move downhill.\n"
    write_text(settings.source_dir / "a.md", body)
    write_text(settings.source_dir / "copy" / "a.md", body)
    reports = run_ingest(settings)
    assert reports["cleaned_documents"]["num_documents_duplicate"] == 1
    statuses = sorted(d.status for d in Ledger(settings.ledger_path).documents().values())
    assert statuses == ["duplicate", "indexed"]
    points, chunks, _ = index_sizes(settings)
    assert points == chunks == 1
    # Deleting the original lets the copy take its place on the next runs.
    (settings.source_dir / "a.md").unlink()
    run_ingest(settings)
    run_ingest(settings)
    documents = list(Ledger(settings.ledger_path).documents().values())
    assert [(d.source_path, d.status) for d in documents] == [("copy/a.md", "indexed")]
    assert index_sizes(settings)[0] == 1


def test_search_waits_for_a_writer_instead_of_crashing(knowledge_base: Settings) -> None:
    import threading

    services = PipelineServices(knowledge_base)
    searcher = Searcher(knowledge_base)
    searcher.search("warm up the model", k=1, mode="dense")
    results: list[int] = []
    with services.qdrant.session():  # a writer holds the local folder
        thread = threading.Thread(
            target=lambda: results.append(len(searcher.search("satellite orbit", k=2))))
        thread.start()
        time.sleep(1.0)
        assert not results  # waiting, not crashed
    thread.join(timeout=budget(60))
    assert results == [2]


def test_a_searcher_counts_the_languages_once_per_max_age(
        knowledge_base: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger scan behind a query's languages is not paid on every query."""
    searcher = Searcher(replace(knowledge_base, keyword_index="qdrant"))
    counted: list[dict[str, int]] = []
    real = Ledger.language_counts
    monkeypatch.setattr(Ledger, "language_counts",
                        lambda self: counted.append(real(self)) or counted[-1])
    for query in ("satellite orbit", "bee colonies swarm", "sourdough starter"):
        assert searcher.search(query, k=1)
    assert len(counted) == 1 and counted[0]
    monkeypatch.setattr(search_module, "LANGUAGES_MAX_AGE_SECONDS", -1.0)
    searcher.search("satellite orbit", k=1)
    assert len(counted) == 2


def test_bm25_from_sparse_vectors_ranks_as_rank_bm25(knowledge_base: Settings) -> None:
    rank_bm25 = Searcher(replace(knowledge_base, keyword_index="rank-bm25"))
    sparse = Searcher(replace(knowledge_base, keyword_index="qdrant"))
    assert (rank_bm25.keyword_index, sparse.keyword_index) == ("rank-bm25", "qdrant")
    for query in ("geostationary satellite orbit", "why do bee colonies swarm in spring",
                  "bake sourdough", "the queen"):
        expected = [(h.chunk.chunk_id, h.score) for h in rank_bm25.search(query, 10, "bm25")]
        got = [(h.chunk.chunk_id, h.score) for h in sparse.search(query, 10, "bm25")]
        assert expected and same_ranking(expected, got), query
    hybrid = sparse.search("bake sourdough", 5, "hybrid")  # one Query API call
    assert [h.rank for h in hybrid] == [1, 2, 3, 4, 5]
    fused_in_python = rank_bm25.search("bake sourdough", 5, "hybrid")
    assert same_ranking([(h.chunk.chunk_id, h.score) for h in fused_in_python],
                        [(h.chunk.chunk_id, h.score) for h in hybrid], tolerance=1e-6)


def test_a_plain_qdrant_client_runs_the_hybrid_query(knowledge_base: Settings) -> None:
    """The README's example: an application with qdrant-client and the query-side BM25
    function, nothing else of this package."""
    from qdrant_client import QdrantClient, models

    from rag_pipeline.sparse_bm25 import query_vector

    if knowledge_base.qdrant.embedded != "local-mode":
        pytest.skip("qdrant-client reads a server or its local mode, not an Edge folder")

    question = "which instruments detect magma before an eruption"
    dense = PipelineServices(knowledge_base).query_embedder.embed([question])[0].tolist()
    sparse = query_vector(question)
    client = QdrantClient(path=str(knowledge_base.qdrant_path))
    try:
        points = client.query_points(
            "chunks",
            prefetch=[
                models.Prefetch(query=dense, using="dense", limit=100),
                models.Prefetch(query=models.SparseVector(indices=sparse.indices,
                                                          values=sparse.values),
                                using="bm25", limit=100),
            ],
            query=models.RrfQuery(rrf=models.Rrf(k=61)),  # ranks from 0: RAG_RRF_K 60
            limit=5,
            with_payload=["source_path", "text"],
        ).points
    finally:
        client.close()
    expected = Searcher(replace(knowledge_base, keyword_index="qdrant")).search(question, 5)
    assert [str(p.id) for p in points] == [h.chunk.chunk_id for h in expected]
    assert points[0].payload is not None and points[0].payload["source_path"] == "volcanoes.md"


def test_searches_embed_queries_with_the_exported_graph_not_torch(
        knowledge_base: Settings) -> None:
    import subprocess
    import sys

    import numpy as np

    from rag_pipeline.embedding import embedder_for
    from rag_pipeline.query_graph import PROBES, query_spec

    services = PipelineServices(knowledge_base)
    exported = query_spec(services.model)  # exported by the run that published
    assert exported is not None and exported.fingerprint == services.model.fingerprint
    assert exported.backend == "onnx" and services.query_embedder.spec.backend == "onnx"
    by_graph = services.query_embedder.embed(PROBES)
    by_torch = embedder_for(services.model, 32).embed(PROBES)
    assert np.allclose((by_graph * by_torch).sum(axis=1), 1.0, atol=1e-5)
    code = ("import sys\n"
            "from rag_pipeline.search import search\n"
            "hits = search('why do bee colonies swarm in spring', k=1)\n"
            "assert hits[0].chunk.source_path == 'beekeeping.docx', hits\n"
            "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n")
    env = {**os.environ, "RAG_DATA_DIR": str(knowledge_base.data_dir),
           "RAG_SOURCE_DIR": str(knowledge_base.source_dir),
           "RAG_QDRANT_EMBEDDED": knowledge_base.qdrant.embedded}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=budget(300))
    assert result.returncode == 0, result.stderr[-3000:]
