"""`rag-pipeline eval` on a tiny BEIR dataset made by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_pipeline import cli
from rag_pipeline.evaluation.beir import load_beir
from rag_pipeline.evaluation.metrics import (
    best_chunk_per_document,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)

TOPICS = {
    "d1": ("Volcano eruptions", "Stratovolcanoes erupt explosively because viscous magma traps "
           "gas."),
    "d2": ("Sourdough bread", "A sourdough starter is a culture of wild yeast and lactobacilli."),
    "d3": ("Chess openings", "The Sicilian Defence answers the king's pawn opening with c5."),
    "d4": ("Honey bees", "Colonies swarm in spring when the old queen leaves the hive."),
    "d5": ("Satellites", "Geostationary satellites orbit 35,786 kilometres above the equator."),
}
QUERIES = {"q1": ("why do volcanoes explode", "d1"), "q2": ("wild yeast culture for bread", "d2"),
           "q3": ("Sicilian Defence", "d3"), "q4": ("queen leaves with a swarm", "d4")}


TRAIN_QUERIES = {"t1": ("magma and gas", "d1"), "t2": ("orbit above the equator", "d5"),
                 "t3": ("honey bee colonies in spring", "d4")}


def write_dataset(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc_id, (title, text) in TOPICS.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as handle:
        for query_id, (text, _) in QUERIES.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
        for query_id, (text, _) in TRAIN_QUERIES.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    for split, queries in (("test", QUERIES), ("train", TRAIN_QUERIES)):
        rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, (_, d) in queries.items()]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return folder


def test_metrics_match_hand_computed_values() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at_k(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "a"], relevant, 10) == pytest.approx(
        (1 / 1.5849625) / (1 + 1 / 1.5849625))
    assert recall_at_k(["c", "a"], relevant, 1) == 0.0
    assert recall_at_k(["c", "a"], relevant, 2) == 0.5
    assert mrr_at_k(["c", "x", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert best_chunk_per_document(["a", "c", "a", "b"]) == ["a", "c", "b"]


def test_load_beir(tmp_path: Path) -> None:
    dataset = load_beir(write_dataset(tmp_path / "ds"))
    assert dataset.corpus["d3"][0] == "Chess openings"
    assert dataset.qrels["q2"] == {"d2": 1}
    assert set(dataset.queries) == set(QUERIES)


def test_eval_command_reports_every_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    dataset = write_dataset(tmp_path / "ds")
    out = tmp_path / "results.json"
    assert cli.main(["eval", "--dataset", str(dataset), "--out", str(out),
                     "--work-dir", str(tmp_path / "work")]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("| mode | ndcg@10 | recall@10 | recall@100")
    results = json.loads(out.read_text())
    assert set(results) == {"hybrid", "dense", "bm25"}
    for values in results.values():
        assert set(values) >= {"ndcg@10", "recall@10", "recall@100", "mrr@10", "p50_ms",
                               "p95_ms"}
        assert values["num_queries"] == 4
        assert values["recall@100"] == 1.0  # five documents: all of them are retrieved
    assert results["hybrid"]["ndcg@10"] >= 0.9
    assert results["bm25"]["mrr@10"] >= 0.9


def test_eval_tunes_on_train_and_reports_test(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from rag_pipeline.evaluation.tuning import B_GRID, K1_GRID, RRF_K_GRID

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    dataset = write_dataset(tmp_path / "ds")
    out = tmp_path / "results.json"
    assert cli.main(["eval", "--dataset", str(dataset), "--out", str(out), "--tune",
                     "--work-dir", str(tmp_path / "work")]) == 0
    printed = capsys.readouterr().out
    assert "Tuned on the train split" in printed and "test, before tuning" in printed
    results = json.loads(out.read_text())
    assert set(results) == {"hybrid", "dense", "bm25"}
    assert all(v["num_queries"] == 4 for v in results.values())  # scored on test only
    details = json.loads(out.with_suffix(".details.json").read_text())
    tuning = details["tuning"]
    assert len(tuning["grid"]["bm25"]) == len(K1_GRID) * len(B_GRID)
    assert len(tuning["grid"]["hybrid"]) == len(RRF_K_GRID)
    # The chosen values are the best of the grid on train, and the report used them.
    assert tuning["train_ndcg"]["bm25"] == max(tuning["grid"]["bm25"].values())
    assert tuning["train_ndcg"]["hybrid"] == max(tuning["grid"]["hybrid"].values())
    assert tuning["grid"]["bm25"][f"k1={tuning['bm25_k1']},b={tuning['bm25_b']}"] \
        == tuning["train_ndcg"]["bm25"]
    assert details["parameters"] == {"bm25_k1": tuning["bm25_k1"], "bm25_b": tuning["bm25_b"],
                                     "rrf_k": tuning["rrf_k"]}
    assert set(details["untuned"]) == {"hybrid", "dense", "bm25"}
