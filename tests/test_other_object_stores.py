"""Documents in other object stores, by configuration only: `RAG_SOURCE_URI=az://...` or
`gs://...` and each store's standard variables, through its fsspec package, against an
emulator on 127.0.0.1 (`tests/store_emulators.py`). Neither package nor emulator is a project
dependency, so these skip where they are missing. To run them:

    .venv/bin/pip install adlfs gcsfs gcp-storage-emulator -c requirements.lock
    npm install azurite && export AZURITE_BLOB=$PWD/node_modules/.bin/azurite-blob
    .venv/bin/python -m pytest tests/test_other_object_stores.py
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline.ledger import Ledger
from rag_pipeline.search import search
from rag_pipeline.settings import Settings
from tests.fixtures import write_knowledge_base
from tests.store_emulators import AzuriteServer, GcsEmulator, StoreEmulator
from tests.test_pipeline import index_sizes, qdrant_ids

pytestmark = pytest.mark.slow
CONTAINER = "handbook"
STORES = {"azure": (AzuriteServer, "adlfs"), "gcs": (GcsEmulator, "gcsfs")}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[StoreEmulator]:
    emulator, package = STORES[request.param]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
    if emulator.installed() is None:
        pytest.skip(f"the {request.param} emulator is not installed")
    with emulator(CONTAINER) as server:
        yield server


def test_a_container_is_indexed_changed_and_deleted_like_a_folder(
        store: StoreEmulator, settings: Settings, tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    write_knowledge_base(upload)
    files = sorted(p for p in upload.rglob("*") if p.is_file())
    for path in files:
        store.put(f"kb/{path.relative_to(upload).as_posix()}", path.read_bytes())
    store.put("kb/policy.md", b"# Leave\n\nEmployees receive twenty-five days of paid annual "
              b"leave a year.\n", metadata={"team": "hr"})
    from_store = replace(settings, source_uri=f"{store.scheme}://{CONTAINER}/kb",
                         golden_set=None)

    first = run_ingest(from_store)["extracted_documents"]
    assert first["num_documents_new"] == len(files) + 1
    again = run_ingest(from_store)["extracted_documents"]
    assert again["num_files_hashed"] == 0  # unchanged objects are not downloaded

    store.put("kb/chess.txt", store.get("kb/chess.txt").replace(b"Sicilian", b"Najdorfs"))
    store.delete("kb/bread.html")
    third = run_ingest(from_store)["extracted_documents"]
    assert (third["num_documents_new"], third["num_documents_changed"],
            third["num_documents_deleted"]) == (0, 1, 1)

    ledger = Ledger(from_store.ledger_path)
    assert "bread.html" not in {d.source_path for d in ledger.documents().values()}
    [hit] = search("Najdorfs defence", k=1, mode="bm25", settings=from_store)
    assert hit.chunk.source_path == "chess.txt"
    tags = {c.source_path: c.facts.tags for c in ledger.iter_chunks() if c.facts}
    assert tags["policy.md"] == ("team=hr",)  # the object's user metadata
    points, chunks, bm25 = index_sizes(from_store)
    assert points == chunks == bm25 > 0
    assert qdrant_ids(from_store) == {c.chunk_id for c in ledger.iter_chunks()}
