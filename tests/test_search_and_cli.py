from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag_pipeline import bm25_store, cli
from rag_pipeline.bm25_store import BM25Index, bm25_tokens
from rag_pipeline.search import reciprocal_rank_fusion
from tests.fixtures import write_knowledge_base


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d", "a"]], k=60)
    assert [cid for cid, _ in fused] == ["b", "a", "d", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_bm25_scores_only_candidates_and_stems() -> None:
    index = BM25Index.build([("1", "Running shoes for marathons"), ("2", "Cooking pasta"),
                             ("3", "A runner runs and runs daily")])
    assert bm25_tokens("The Runners running") == ["runner", "run"]
    hits = index.search("run", k=5)
    assert [cid for cid, _ in hits] == ["3", "1"]
    assert index.search("unknownword", k=5) == []


def test_bm25_finds_terms_present_in_most_or_all_chunks() -> None:
    # rank-bm25's Okapi IDF is negative here; the index must still find the documents.
    assert [cid for cid, _ in BM25Index.build([("1", "lonely pterosaur")]).search("pterosaur", 3)
            ] == ["1"]
    index = BM25Index.build([("1", "tea and cake"), ("2", "tea and biscuits"), ("3", "tea")])
    assert {cid for cid, _ in index.search("tea", 5)} == {"1", "2", "3"}
    assert index.search("cake tea", 5)[0][0] == "1"


def test_bm25_roundtrip(tmp_path: Path) -> None:
    index = BM25Index.build([("1", "alpha beta"), ("2", "gamma")])
    index.save(tmp_path / "bm25.pkl")
    loaded = BM25Index.load(tmp_path / "bm25.pkl")
    assert loaded.chunk_ids == ["1", "2"] and loaded.fingerprint == index.fingerprint


def test_bm25_rebuild_reuses_the_previous_counts_with_the_same_result(
        monkeypatch: pytest.MonkeyPatch) -> None:
    texts = {str(i): f"chunk {i} about running tea {'and cake ' * (i % 4)}shoes {i % 3}"
             for i in range(40)}
    previous = BM25Index.build(list(texts.items()))
    texts.pop("7"), texts.pop("12")
    texts["7b"] = "a new chunk about biscuits and running"
    texts["40"] = "tea tea tea for everyone"
    chunks = sorted(texts.items(), reverse=True)  # another order than before
    scratch = BM25Index.build(chunks)
    tokenized: list[str] = []
    real_tokens = bm25_store.bm25_tokens

    def counting(text: str, language: str | None = "en") -> list[str]:
        tokenized.append(text)
        return real_tokens(text, language)

    monkeypatch.setattr(bm25_store, "bm25_tokens", counting)
    rebuilt = BM25Index.build(chunks, previous=previous)

    assert sorted(tokenized) == sorted([texts["7b"], texts["40"]])  # only the new chunks
    assert rebuilt.chunk_ids == scratch.chunk_ids and rebuilt.fingerprint == scratch.fingerprint
    assert rebuilt.postings.keys() == scratch.postings.keys()
    assert all((rebuilt.postings[t] == scratch.postings[t]).all() for t in scratch.postings)
    assert rebuilt.bm25 is not None and scratch.bm25 is not None
    assert rebuilt.bm25.doc_freqs == scratch.bm25.doc_freqs
    assert rebuilt.bm25.doc_len == scratch.bm25.doc_len and rebuilt.bm25.idf == scratch.bm25.idf
    for query in ["running shoes", "tea cake", "biscuits", "everyone tea 2"]:
        assert rebuilt.search(query, 10) == scratch.search(query, 10)


def test_cli_imports_nothing_heavy_before_a_search_starts_loading_its_model() -> None:
    """A cold search overlaps its model's load with these imports (`query_model`): the CLI
    module must not import them itself."""
    heavy = ["sqlalchemy", "numpy", "onnxruntime", "qdrant_edge", "rag_pipeline.search",
             "rag_pipeline.pipeline.services"]
    code = ("import sys, rag_pipeline.cli\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_cli_search_without_index_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_SOURCE_DIR", str(tmp_path))
    assert cli.main(["search", "anything", "--mode", "bm25"]) == 2
    assert "No index yet" in capsys.readouterr().err
    assert cli.main(["status"]) == 2


def test_cli_ingest_status_and_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source"
    write_knowledge_base(source)
    (source / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setenv("RAG_SOURCE_DIR", str(source))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert cli.main(["ingest"]) == 0
    out = capsys.readouterr().out
    assert "documents: 6 new, 0 changed, 0 unchanged, 0 deleted, 1 failed" in out
    assert "reused from cache" in out
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "documents: 5 indexed, 1 failed, 0 duplicate" in out
    assert "broken.docx: cannot parse DOCX file" in out
    assert cli.main(["search", "Sicilian Defence opening", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "1" and "chess.txt" in lines[0]
