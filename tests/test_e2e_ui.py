"""The Dagster UI, in a real browser, shows each knowledge base's assets and their checks with
status, and each one's configuration."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline.knowledge_bases import load_knowledge_bases
from tests.browser import chromium, page_text, screenshot
from tests.dagster_dev import PROJECT, answers, free_port, wait_for
from tests.fixtures import write_text
from tests.host_speed import budget

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium() is None, reason="chromium is not installed")]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("ui")
    home, data = tmp / "dagster_home", tmp / "data"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    write_text(tmp / "notes" / "chess.md", "# Openings\n\nThe Sicilian Defence answers 1.e4 "
               "with 1...c5 and leads to sharp, unbalanced positions.\n")
    declaration = write_text(tmp / "knowledge_bases.yaml", "knowledge_bases:\n  inbox: {}\n"
                             "  notes:\n    settings: {source_dir: notes, chunk_tokens: 120}\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RAG_DATA_DIR": str(data),
           "RAG_SOURCE_DIR": str(PROJECT / "inbox"), "RAG_KNOWLEDGE_BASES": str(declaration)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():  # run_ingest records the runs in this instance
            patch.setenv(name, value)
        for kb in load_knowledge_bases():
            run_ingest(kb.settings, knowledge_base=kb.name)
    port = free_port()
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w",
         str(PROJECT / "workspace.yaml")],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: answers(f"{url}/server_info"), 120, interval=1)
        except TimeoutError:
            pytest.fail("dagster-webserver did not start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=budget(30))


@pytest.mark.parametrize("group", ["inbox", "notes"])
def test_each_knowledge_base_is_a_group_with_its_assets_and_checks(
        webserver: str, tmp_path: Path, group: str) -> None:
    profile = tmp_path / "chrome"
    url = f"{webserver}/locations/rag_pipeline/asset-groups/{group}"
    seen = page_text(url, profile)
    screenshot(url, tmp_path / f"lineage-{group}.png", profile)
    assert "extracted_documents" in seen and "cleaned_documents" in seen
    assert re.search(r"document_chunks .*?Asset checks 6 / 6 Passed", seen), seen
    assert re.search(r"chunk_embeddings .*?Asset checks 4 / 4 Passed", seen), seen
    assert "qdrant_index" in seen and "published_collection" in seen
    # bm25_index: counts_match, retrieval_smoke, sparse_matches
    assert re.search(r"bm25_index .*?Asset checks 3 / 3 Passed", seen), seen


def test_each_knowledge_base_shows_its_configuration(webserver: str, tmp_path: Path) -> None:
    profile = tmp_path / "chrome"
    text = page_text(f"{webserver}/locations/rag_pipeline/resources/notes_pipeline", profile)
    assert "chunk_tokens" in text and "120" in text, text[:3000]
    assert "RAG_MASS_DELETE_MIN_DOCUMENTS" in text  # every setting, described


def test_checks_page_shows_each_check_with_its_status(webserver: str, tmp_path: Path) -> None:
    profile = tmp_path / "chrome"
    url = f"{webserver}/assets/inbox/document_chunks?view=checks"
    text = page_text(url, profile)
    screenshot(url, tmp_path / "checks.png", profile)
    for name in ("not_empty", "within_token_limit", "tiny_share", "duplicate_share",
                 "garbled_share", "every_document_chunked"):
        assert re.search(rf"document_chunks_{name} Succeeded", text), (name, text[:2000])
    assert "This is a blocking asset check." in text
