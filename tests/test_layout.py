"""The core imports without Dagster; the Dagster definitions load."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import rag_pipeline
from tests.host_speed import budget

BLOCK_DAGSTER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "dagster" or name.startswith(("dagster.", "dagster_")):
            raise ImportError("dagster is not allowed in the core: " + name)
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
assert not any(m == "dagster" or m.startswith("dagster.") for m in sys.modules)
assert "torch" not in sys.modules, "torch must be imported lazily"
print("ok")
"""


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(rag_pipeline.__path__, "rag_pipeline.")]
    return [n for n in names if n != "rag_pipeline.definitions"]


def test_core_imports_without_dagster_or_torch() -> None:
    modules = core_modules()
    assert "rag_pipeline.chunking" in modules and "rag_pipeline.cli" in modules
    result = subprocess.run([sys.executable, "-c", BLOCK_DAGSTER, *modules],
                            capture_output=True, text=True, timeout=budget(120))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_definitions_load() -> None:
    from rag_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert names == {f"inbox/{name}" for name in (
        "extracted_documents", "cleaned_documents", "document_chunks", "chunk_embeddings",
        "qdrant_index", "bm25_index", "published_collection")}
    assert defs.resolve_job_def("inbox_ingest_job") is not None
    assert defs.resolve_sensor_def("inbox_source_sensor") is not None
    assert defs.resolve_sensor_def("run_failure_alerts") is not None


ADAPTERS = {
    "qdrant_client": {"rag_pipeline/qdrant_store.py"},
    "qdrant_edge": {"rag_pipeline/edge_store.py"},
    "rank_bm25": {"rag_pipeline/bm25_store.py"},
    # The remote embedding endpoint: its HTTP client, retries and rate limits.
    "httpx": {"rag_pipeline/remote_embedding.py", "rag_pipeline/webhook_notifier.py"},
    "tenacity": {"rag_pipeline/remote_embedding.py", "rag_pipeline/object_store_source.py",
                 "rag_pipeline/state_database.py", "rag_pipeline/webhook_notifier.py"},
    # The state database (SQLite or PostgreSQL) and its tables.
    "sqlalchemy": {"rag_pipeline/state_database.py", "rag_pipeline/state_schema.py"},
    "psycopg": set(),
    # Object stores (s3fs and the others) through fsspec.
    "fsspec": {"rag_pipeline/object_store_source.py", "rag_pipeline/object_store_staging.py"},
    "pyrate_limiter": {"rag_pipeline/remote_embedding.py"},
}


def test_only_an_adapter_imports_its_backend() -> None:
    import ast
    from pathlib import Path

    root = Path(rag_pipeline.__file__).parent.parent
    found: dict[str, set[str]] = {backend: set() for backend in ADAPTERS}
    for folder in ("rag_pipeline", "assets", "sensors", "resources"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                for name in names:
                    backend = name.split(".")[0]
                    if backend in found:
                        found[backend].add(str(path.relative_to(root)))
    assert found == ADAPTERS


def test_the_ui_lineage_is_the_lineage_the_stages_read() -> None:
    """Each asset's upstream in Dagster is the stage whose batch it reads (`lineage`)."""
    from rag_pipeline.definitions import defs
    from rag_pipeline.pipeline.lineage import PER_SHARD, UPSTREAM

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        name = key.path[-1]
        parents = {parent.path[-1] for parent in graph.get(key).parent_keys}
        assert parents == ({UPSTREAM[name]} if UPSTREAM[name] else set()), name
        assert (graph.get(key).partitions_def is not None) == (name in PER_SHARD), name
