"""The Dagster UI, in a real browser, shows the assets and their checks with status."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline.settings import Settings
from tests.browser import chromium, page_text, screenshot
from tests.dagster_dev import PROJECT, free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium() is None, reason="chromium is not installed")]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("ui")
    home, data = tmp / "dagster_home", tmp / "data"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RAG_DATA_DIR": str(data),
           "RAG_SOURCE_DIR": str(PROJECT / "inbox")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))  # run_ingest records the run in this instance
        run_ingest(Settings(source_dir=PROJECT / "inbox", data_dir=data))
    port = free_port()
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w",
         str(PROJECT / "workspace.yaml")],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("dagster-webserver did not start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_lineage_shows_assets_and_their_checks(webserver: str, tmp_path: Path) -> None:
    profile = tmp_path / "chrome"
    seen: dict[str, str] = {}
    for group in ("documents", "chunks", "indexes"):
        url = f"{webserver}/locations/rag_pipeline/asset-groups/{group}"
        seen[group] = page_text(url, profile)
        screenshot(url, tmp_path / f"lineage-{group}.png", profile)
    assert "extracted_documents" in seen["documents"] and "cleaned_documents" in seen["documents"]
    chunks = seen["chunks"]
    assert re.search(r"document_chunks .*?Asset checks 6 / 6 Passed", chunks), chunks
    assert re.search(r"chunk_embeddings .*?Asset checks 4 / 4 Passed", chunks), chunks
    assert "qdrant_index" in seen["indexes"] and "bm25_index" in seen["indexes"]
    # bm25_index: counts_match, retrieval_smoke, sparse_matches
    assert re.search(r"bm25_index .*?Asset checks 3 / 3 Passed", seen["indexes"]), seen["indexes"]


def test_checks_page_shows_each_check_with_its_status(webserver: str, tmp_path: Path) -> None:
    profile = tmp_path / "chrome"
    url = f"{webserver}/assets/document_chunks?view=checks"
    text = page_text(url, profile)
    screenshot(url, tmp_path / "checks.png", profile)
    for name in ("not_empty", "within_token_limit", "tiny_share", "duplicate_share",
                 "garbled_share", "every_document_chunked"):
        assert re.search(rf"document_chunks_{name} Succeeded", text), (name, text[:2000])
    assert "This is a blocking asset check." in text
