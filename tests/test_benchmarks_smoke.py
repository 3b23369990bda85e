"""A tiny run of the performance report (not a timed test): keeps `make bench` working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import write_knowledge_base
from tests.host_speed import budget

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parent.parent


def test_performance_report_runs_end_to_end(tmp_path: Path) -> None:
    documents = tmp_path / "docs"
    write_knowledge_base(documents)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", str(documents), "--sizes", "200,400",
         "--out-dir", str(out), "--work-dir", str(tmp_path / "work")],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=budget(900))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    ingest = report["ingest"]
    assert ingest["documents"] == len(list(documents.rglob("*.*")))
    assert ingest["noop_chunks_embedded"] == 0
    assert ingest["change_1pct_documents"] == 1 and ingest["change_1pct_chunks_embedded"] >= 1
    assert ingest["delete_1pct_documents_deleted"] == 1
    assert 0 < ingest["end_to_end_over_pure_embedding"] < 1
    assert ingest["embedding_workers"] == 2
    assert ingest["single_process_embedding_chunks_per_second"] > 0
    assert set(report["latency"]["sweep"]) == {"200", "400"}
    for modes in [report["latency"]["indexed"], *report["latency"]["sweep"].values()]:
        assert all(modes[m]["p50_ms"] <= modes[m]["p95_ms"] for m in ("hybrid", "dense", "bm25"))
    peer = report["peer"]
    assert peer["full"]["chunks"] > 0 and peer["full"]["failed"] == 0
    assert peer["noop"]["index_result"]["num_added"] == 0  # its record manager skips them
    assert (out / "performance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Against a peer" in (out / "report.md").read_text()


def test_languages_benchmark_runs_and_quarantines_nothing(tmp_path: Path) -> None:
    out = tmp_path / "languages.json"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_languages", "--documents", "2", "--json",
         str(out), "--work-dir", str(tmp_path / "work")],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=budget(900))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert {row["language"] for row in rows} >= {"en", "zh", "th", "hi", "ta", "bn"}
    assert all(row["documents"] == 2 and row["quarantined"] == 0 for row in rows), rows
    assert all(0 <= row["recall_at_5"] <= 1 for row in rows)
    assert "| zh | 2 | 0 |" in result.stdout


def test_scale_benchmark_writes_its_figures(tmp_path: Path) -> None:
    dataset = tmp_path / "beir"
    dataset.mkdir()
    topics = ["protein folding in cells", "tumour growth factor signalling",
              "insulin response of the liver", "vaccine trial in patients"]
    with (dataset / "corpus.jsonl").open("w") as corpus:
        for i in range(40):
            words = " ".join(f"{topics[i % 4]} observation {j} of study {i}." for j in range(6))
            corpus.write(json.dumps({"_id": str(i), "title": f"Study {i}", "text": words}) + "\n")
    with (dataset / "queries.jsonl").open("w") as queries:
        for i, topic in enumerate(topics):
            queries.write(json.dumps({"_id": str(i), "text": topic}) + "\n")
    out = tmp_path / "scale.json"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_scale", "--chunks", "1000", "--dataset",
         str(dataset), "--base", "40", "--queries", "4", "--workers", "1", "--json", str(out),
         "--work-dir", str(tmp_path / "work")],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=budget(900))
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(out.read_text())
    assert row["chunks"] == 1000 and row["write_points_per_s"] > 0
    assert 0 < row["hybrid_p50_ms"] <= row["hybrid_p95_ms"]
    assert 0 < row["hybrid_narrow_filter_p50_ms"] <= row["hybrid_narrow_filter_p95_ms"]
    assert 0.5 <= row["recall_at_10"] <= 1 and row["cold_search_s"] > 0
    assert len(row["cold_search_runs_s"]) == 3
    assert row["rank_bm25_p50_ms"] <= row["rank_bm25_p95_ms"]


def test_embedding_benchmark_writes_one_row_per_backend(tmp_path: Path) -> None:
    """The torch-free rows only (the remote path and an unavailable backend): the local
    backends' code is what the pipeline runs, tested elsewhere."""
    out = tmp_path / "embedding.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_embedding", "--chunks", "40", "--backends",
         "remote-c1,remote-c4,openvino-fp32", "--batch-size", "8", "--json", str(out)],
        cwd=PROJECT, capture_output=True, text=True, timeout=budget(300))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["backend"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"remote-c1", "remote-c4", "openvino-fp32"}
    assert rows["remote-c1"]["chunks_per_s"] > 0 and rows["remote-c4"]["requests"] == 5
    assert rows["openvino-fp32"]["available"] is False and rows["openvino-fp32"]["reason"]
    assert not any(row["default"] for row in rows.values())  # torch-fp32 was not measured
