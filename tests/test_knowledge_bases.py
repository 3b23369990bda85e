"""Several knowledge bases in one deployment: declared in one YAML file, kept apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline import cli, knowledge_bases
from rag_pipeline.knowledge_bases import KnowledgeBase, knowledge_base, load_knowledge_bases
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.search import Searcher
from rag_pipeline.setting_fields import SettingError
from rag_pipeline.settings import PROJECT_ROOT
from tests.fixtures import write_text
from tests.host_speed import budget
from tests.tiny_model import build_tiny_model

HANDBOOK = {
    "leave.md": "# Annual leave\n\nEmployees receive twenty-five days of paid annual leave, "
                "booked through the holiday planner at least two weeks ahead.\n",
    "expenses.md": "# Travel expenses\n\nTrain tickets and hotel nights on company travel are "
                   "reimbursed within a month of the claim.\n",
}
SHARED = ("# Security training\n\nEvery employee completes the phishing awareness course "
          "once a year.\n")
ENGINEERING = {
    "deploy.md": "# Deploying billing\n\nThe billing service is deployed every Tuesday after "
                 "the integration tests pass on the staging cluster.\n",
    "oncall.md": "# On-call\n\nThe on-call engineer answers pages within fifteen minutes and "
                 "writes a postmortem for every outage.\n",
}
DECLARATION = """\
knowledge_bases:
  handbook:
    description: HR handbook
    settings:
      source_dir: handbook
      golden_set: null
  engineering:
    settings:
      source_dir: engineering
      chunk_tokens: 120
      golden_set: null
"""


def declare(folder: Path, text: str = DECLARATION) -> Path:
    path = write_text(folder / "knowledge_bases.yaml", text)
    for name, documents in (("handbook", HANDBOOK), ("engineering", ENGINEERING)):
        for file, body in {**documents, "security.md": SHARED}.items():
            write_text(folder / name / file, body)
    return path


def test_each_knowledge_base_gets_its_own_data_folder_and_alias(tmp_path: Path) -> None:
    path = declare(tmp_path)
    handbook, engineering = load_knowledge_bases(path, {"RAG_DATA_DIR": str(tmp_path / "d"),
                                                        "RAG_CHUNK_TOKENS": "180"})
    assert (handbook.name, handbook.description) == ("handbook", "HR handbook")
    assert handbook.settings.source_dir == tmp_path / "handbook"  # relative to the file
    assert handbook.settings.data_dir == tmp_path / "d"  # the first keeps the environment's
    assert handbook.settings.qdrant.collection_alias == "chunks"
    assert handbook.settings.chunk_tokens == 180  # the environment's, not declared
    assert engineering.settings.data_dir == tmp_path / "d" / "knowledge-bases" / "engineering"
    assert engineering.settings.qdrant.collection_alias == "engineering"
    assert engineering.settings.chunk_tokens == 120  # declared wins
    assert engineering.settings.embedding_cache_path == handbook.settings.embedding_cache_path
    assert knowledge_base("engineering", path, {}).name == "engineering"
    assert knowledge_base(None, path, {}).name == "handbook"


@pytest.mark.parametrize(("text", "message"), [
    ("knowledge_bases:\n  HR Docs: {}\n", "a name is lower-case letters"),
    ("knowledge_bases:\n  a: {}\n  b: {settings: {chunk_tokens: 100}}\n",
     "'b': say where its documents are"),
    ("knowledge_bases:\n  a: {}\n  b: {settings: {source_dir: x, data_dir: /tmp/same}}\n"
     "  c: {settings: {source_dir: y, data_dir: /tmp/same}}\n", "'b' and 'c' share a data folder"),
    ("knowledge_bases:\n  a: {settings: {chunk_token: 100}}\n", "unknown settings: chunk_token"),
    ("knowledge_bases:\n  a: {settings: {chunk_tokens: many}}\n", "'a': .*chunk_tokens"),
    ("knowledge_bases:\n  a: {setting: {}}\n", "expected `description:` and `settings:`"),
    ("kbs: []\n", "expected a `knowledge_bases:` mapping"),
])
def test_a_wrong_declaration_fails_naming_what(tmp_path: Path, text: str, message: str) -> None:
    path = write_text(tmp_path / "kb.yaml", text)
    with pytest.raises(SettingError, match=message):
        load_knowledge_bases(path, {})


def test_the_shipped_file_and_no_file_declare_the_inbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {"RAG_SOURCE_DIR": str(tmp_path / "docs")}
    [shipped] = load_knowledge_bases(None, environ)
    monkeypatch.setattr(knowledge_bases, "DEFAULT_FILE", tmp_path / "absent.yaml")
    [implicit] = load_knowledge_bases(None, environ)
    for inbox in (shipped, implicit):
        assert inbox.name == "inbox" and inbox.settings.source_dir == tmp_path / "docs"
        assert inbox.settings.data_dir == PROJECT_ROOT / "data"
    with pytest.raises(SettingError, match="no such knowledge-base declaration file"):
        load_knowledge_bases(None, {"RAG_KNOWLEDGE_BASES": str(tmp_path / "absent.yaml")})


def test_the_dagster_definitions_have_a_group_job_sensor_and_resources_each(
        tmp_path: Path) -> None:
    path = declare(tmp_path)
    script = (
        "import json; from rag_pipeline.definitions import defs\n"
        "graph = defs.resolve_asset_graph()\n"
        "keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys())\n"
        "groups = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()})\n"
        "print(json.dumps({'keys': keys, 'groups': groups,\n"
        "    'jobs': sorted(j.name for j in defs.jobs), 'sensors': sorted(s.name for s in "
        "defs.sensors),\n"
        "    'chunk_tokens': {k: defs.resources[k].chunk_tokens for k in defs.resources "
        "if k.endswith('_pipeline')},\n"
        "    'alias': defs.resources['engineering_qdrant'].collection_alias}))\n")
    env = {**os.environ, "RAG_KNOWLEDGE_BASES": str(path), "RAG_DATA_DIR": str(tmp_path / "d")}
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=budget(300))
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["groups"] == ["engineering", "handbook"]
    assert len(found["keys"]) == 14 and "engineering/qdrant_index" in found["keys"]
    assert found["jobs"] == ["engineering_ingest_job", "handbook_ingest_job"]
    assert found["sensors"] == ["engineering_source_sensor", "handbook_source_sensor",
                                "run_failure_alerts"]  # one over both jobs
    assert found["chunk_tokens"] == {"handbook_pipeline": 200, "engineering_pipeline": 120}
    assert found["alias"] == "engineering"


def paths_found(kb: KnowledgeBase, query: str) -> set[str]:
    hits = Searcher(kb.settings).search(query, k=10, mode="hybrid")
    return {hit.chunk.source_path for hit in hits}


@pytest.mark.slow
def test_searches_stay_in_their_knowledge_base_during_another_ones_model_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = declare(tmp_path)
    environ = {"RAG_DATA_DIR": str(tmp_path / "data")}
    handbook, engineering = load_knowledge_bases(path, environ)
    run_ingest(handbook.settings, knowledge_base=handbook.name)
    embedded = run_ingest(engineering.settings, knowledge_base=engineering.name)
    # The text both hold was embedded for the handbook: the shared cache gives it back.
    assert embedded["chunk_embeddings"]["num_chunks_reused"] == 1
    assert paths_found(handbook, "billing service deployed on Tuesday") <= {*HANDBOOK,
                                                                             "security.md"}
    assert paths_found(engineering, "paid annual leave") <= {*ENGINEERING, "security.md"}
    handbook_collections = PipelineServices(handbook.settings).qdrant.collections()

    searched: list[set[str]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_the_handbook() -> None:
        while not stop.is_set():
            try:
                searched.append(paths_found(handbook, "deploying billing on-call pages"))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
                return

    tiny = str(build_tiny_model(tmp_path / "models"))
    changed = replace(engineering.settings, embedding_model=tiny, embedding_workers=1)
    reader = threading.Thread(target=search_the_handbook)
    reader.start()
    try:
        run_ingest(changed, knowledge_base=engineering.name)
    finally:
        stop.set()
        reader.join(timeout=budget(60))
    assert not errors and searched
    assert all(found and found <= {*HANDBOOK, "security.md"} for found in searched)
    assert PipelineServices(handbook.settings).qdrant.collections() == handbook_collections
    assert "tiny-model" in (PipelineServices(changed).qdrant.live() or "")

    monkeypatch.setenv("RAG_KNOWLEDGE_BASES", str(path))
    monkeypatch.setenv("RAG_DATA_DIR", environ["RAG_DATA_DIR"])
    assert cli.main(["search", "--kb", "handbook", "billing deploy"]) == 0
    out = capsys.readouterr().out
    assert "leave.md" in out or "expenses.md" in out
    assert "deploy.md" not in out and "oncall.md" not in out
    capsys.readouterr()
    assert cli.main(["status", "--kb", "engineering"]) == 0
    status = capsys.readouterr().out
    assert "knowledge base: engineering" in status and "documents: 3 indexed" in status
    assert cli.main(["status", "--kb", "finance"]) == 2
    assert cli.main(["knowledge-bases"]) == 0
    listed = capsys.readouterr().out
    assert "handbook (default): HR handbook" in listed
    assert f"source: {tmp_path / 'engineering'}" in listed and "alias: engineering" in listed


def test_a_setting_can_read_a_variable_of_its_own(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`{env: NAME}`: each knowledge base its own secret, never written in the file; the
    Dagster resource holds an EnvVar, so the run config never holds the secret either."""
    from dagster import EnvVar, asset, materialize

    from resources import knowledge_base_resources, pipeline_settings

    path = declare(tmp_path, DECLARATION.replace(
        "      chunk_tokens: 120\n",
        "      chunk_tokens: {env: ENGINEERING_CHUNK_TOKENS}\n"
        "      qdrant_api_key: {env: ENGINEERING_QDRANT_KEY}\n"))
    environ = {"ENGINEERING_CHUNK_TOKENS": "96", "ENGINEERING_QDRANT_KEY": "s3cr3t",
               "QDRANT_API_KEY": "the-default-key", "RAG_DATA_DIR": str(tmp_path / "d")}
    handbook, engineering = load_knowledge_bases(path, environ)
    assert engineering.settings.chunk_tokens == 96
    assert engineering.settings.qdrant.api_key == "s3cr3t"
    assert handbook.settings.qdrant.api_key == "the-default-key"
    assert "s3cr3t" not in repr(engineering)
    resources = knowledge_base_resources(engineering, environ)
    assert resources["engineering_qdrant"].api_key == EnvVar("ENGINEERING_QDRANT_KEY")
    assert resources["engineering_pipeline"].chunk_tokens == EnvVar.int(
        "ENGINEERING_CHUNK_TOKENS")

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    seen = {}

    @asset(required_resource_keys={"engineering_pipeline", "engineering_qdrant"})
    def reads_settings(context) -> None:
        seen["settings"] = pipeline_settings(context.resources.engineering_pipeline,
                                             context.resources.engineering_qdrant)

    assert materialize([reads_settings], resources=resources).success
    assert seen["settings"] == engineering.settings

    del environ["ENGINEERING_QDRANT_KEY"]
    with pytest.raises(SettingError, match="qdrant_api_key reads ENGINEERING_QDRANT_KEY, which "
                                           "is not set"):
        load_knowledge_bases(path, environ)
