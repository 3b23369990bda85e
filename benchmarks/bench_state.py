"""The pipeline state on PostgreSQL against SQLite, and shard runs in parallel (#19's figures).

Usage: python -m benchmarks.bench_state [--documents 1000] [--dataset ../shared/data/scifact]
       [--json OUT.json]

1. `--documents` SciFact abstracts (as `rag-pipeline eval` writes them) ingested with the state
   on SQLite files, then with the state on a throwaway PostgreSQL 15 cluster on 127.0.0.1 (as
   the tests start one). Each then runs again unchanged (a no-op run), and again after 1 % of
   the documents changed. The PostgreSQL side starts with the SQLite side's vectors copied into
   its embedding cache, so neither first run below is an embedding figure.
2. A backfill of all 16 shards as one run, against 4 runs of 4 shards, two at a time, each a
   `rag-pipeline ingest --shards` process, on fresh data folders sharing a warm embedding
   cache (so what can overlap is extraction, chunking and the index writes).

Runs one after the other in this process, except the concurrent shard runs. Needs
PostgreSQL's Debian package (initdb, pg_ctl).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from benchmarks.bench_sources import _abstracts
from rag_pipeline.embedding_cache import EmbeddingCache
from rag_pipeline.ids import all_shard_keys
from rag_pipeline.ledger import Ledger
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import embedding_cache_state, pipeline_state


def _timed_ingest(settings: Settings) -> tuple[float, dict]:
    from assets.ingest_run import run_ingest

    started = time.perf_counter()
    report = run_ingest(settings)
    return round(time.perf_counter() - started, 2), report


def _copy_vectors(source: Settings, target: Settings) -> int:
    """The source's cached vectors into the target's cache, fingerprint by fingerprint."""
    with embedding_cache_state(source).transaction() as conn:
        rows = conn.execute("SELECT fingerprint, content_hash, vector FROM vectors").fetchall()
    import numpy as np

    cache = EmbeddingCache(embedding_cache_state(target))
    by_fingerprint: dict[str, dict] = {}
    for fingerprint, content_hash, blob in rows:
        by_fingerprint.setdefault(fingerprint, {})[content_hash] = np.frombuffer(
            blob, dtype=np.float32)
    for fingerprint, vectors in by_fingerprint.items():
        cache.put(fingerprint, vectors)
    return len(rows)


def state_figures(work: Path, folder: Path, documents: int, postgres_url: str) -> dict:
    base = replace(Settings.from_env(), source_dir=folder, golden_set=None)
    backends = {"sqlite": replace(base, data_dir=work / "state-sqlite"),
                "postgres": replace(base, data_dir=work / "state-postgres",
                                    database_url=postgres_url)}
    figures: dict = {"documents": documents}
    changed = sorted(folder.glob("*.md"))[:: max(1, 100)][: max(1, documents // 100)]
    for name, settings in backends.items():
        if name == "postgres":
            figures["vectors_copied"] = _copy_vectors(backends["sqlite"], settings)
        figures[f"{name}_first_s"], _ = _timed_ingest(settings)
        figures[f"{name}_noop_s"], report = _timed_ingest(settings)
        assert report["extracted_documents"]["num_documents_unchanged"] == documents
        for path in changed:
            path.write_text(path.read_text() + f"\nRevised for the {name} run.\n")
        figures[f"{name}_one_percent_s"], report = _timed_ingest(settings)
        assert report["extracted_documents"]["num_documents_changed"] == len(changed)
        figures[f"{name}_chunks"] = Ledger(pipeline_state(settings)).num_chunks()
    figures["changed_documents"] = len(changed)
    for run in ("noop", "one_percent"):
        figures[f"{run}_postgres_over_sqlite"] = round(
            figures[f"postgres_{run}_s"] / figures[f"sqlite_{run}_s"], 2)
    return figures


def _ingest_process(env: dict[str, str], shards: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "rag-pipeline"), "ingest", "--shards",
                    ",".join(shards)], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return time.perf_counter() - started


def shard_run_figures(work: Path, folder: Path, warm_cache: Path) -> dict:
    env = {**os.environ, "RAG_SOURCE_DIR": str(folder), "RAG_EMBEDDING_CACHE_DIR": str(warm_cache),
           "RAG_GOLDEN_SET": str(work / "no-golden-set.json")}
    env.pop("DAGSTER_HOME", None)
    shards = all_shard_keys()
    one = _ingest_process({**env, "RAG_DATA_DIR": str(work / "shards-one-run")}, shards)
    groups = [shards[i : i + 4] for i in range(0, len(shards), 4)]
    four_env = {**env, "RAG_DATA_DIR": str(work / "shards-four-runs")}
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        per_run = list(pool.map(lambda group: _ingest_process(four_env, group), groups))
    four = time.perf_counter() - started
    return {"backfill_1_run_s": round(one, 1), "backfill_4_runs_2_at_once_s": round(four, 1),
            "backfill_4_runs_each_s": [round(s, 1) for s in per_run],
            "backfill_4_runs_over_1_run": round(four / one, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.postgres_server import postgres_server

    work = Path(tempfile.mkdtemp(prefix="rag-state-"))
    folder = work / "source"
    _abstracts(args.dataset, args.documents, folder)
    with postgres_server() as postgres:
        figures = state_figures(work, folder, args.documents,
                                postgres.create_database("bench_state"))
    out = sys.stdout
    out.write(f"{args.documents} documents, state on SQLite vs PostgreSQL: no-op re-run "
              f"{figures['sqlite_noop_s']} s vs {figures['postgres_noop_s']} s "
              f"({figures['noop_postgres_over_sqlite']}x); {figures['changed_documents']} "
              f"changed: {figures['sqlite_one_percent_s']} s vs "
              f"{figures['postgres_one_percent_s']} s "
              f"({figures['one_percent_postgres_over_sqlite']}x)\n")
    figures |= shard_run_figures(work, folder, work / "state-sqlite")
    out.write(f"backfill of 16 shards: 1 run {figures['backfill_1_run_s']} s, 4 runs of 4 "
              f"shards two at a time {figures['backfill_4_runs_2_at_once_s']} s "
              f"({figures['backfill_4_runs_over_1_run']}x)\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
