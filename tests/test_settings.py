"""Each setting is declared once; the environment, the Dagster resources and the docs agree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dagster import EnvVar, asset, materialize

from rag_pipeline.setting_fields import SettingError, SettingField
from rag_pipeline.settings import PROJECT_ROOT, SETTING_FIELDS, Settings
from resources import PipelineSettingsResource, QdrantResource, pipeline_settings
from resources.pipeline import PIPELINE_FIELDS, QDRANT_FIELDS, env_config


def _distinct_value(f: SettingField, i: int, tmp_path: Path) -> tuple[str, Any]:
    """(the variable's text, the flat value it must become): unlike every default."""
    if f.name == "source_uri":
        return "s3://bucket/prefix", "s3://bucket/prefix"
    if f.choices:
        return f.choices[-1], f.choices[-1]
    if f.kind is int:
        return str(1000 + i), 1000 + i
    if f.kind is float:
        return str(0.125 + i), 0.125 + i
    if f.kind is Path:
        return str(tmp_path / f.name), str(tmp_path / f.name)
    if f.kind is tuple:
        return " a/**, b/*.md ", ["a/**", "b/*.md"]
    return f"value-{i}", f"value-{i}"


@pytest.fixture
def every_setting_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    expected = {}
    for i, f in enumerate(SETTING_FIELDS):
        text, value = _distinct_value(f, i, tmp_path)
        assert value != f.default, f.name
        monkeypatch.setenv(f.env, text)
        expected[f.name] = value
    return expected


def test_every_variable_reaches_the_settings(every_setting_set: dict[str, Any]) -> None:
    assert Settings.from_env().to_flat() == every_setting_set


def test_every_variable_reaches_a_dagster_run(every_setting_set: dict[str, Any]) -> None:
    """The resources as `definitions.py` configures them: the settings a step sees are the
    environment's, every one (a setting once fell back to its default under Dagster)."""
    seen: dict[str, Settings] = {}

    @asset
    def reads_settings(pipeline: PipelineSettingsResource, qdrant: QdrantResource) -> None:
        seen["settings"] = pipeline_settings(pipeline, qdrant)

    result = materialize([reads_settings], resources={
        "pipeline": PipelineSettingsResource(**env_config(PIPELINE_FIELDS, os.environ)),
        "qdrant": QdrantResource(**env_config(QDRANT_FIELDS, os.environ)),
    })
    assert result.success
    assert seen["settings"].to_flat() == every_setting_set


def test_secrets_and_strings_are_env_vars_in_the_run_config(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI shows where such a value comes from, and a secret's text is not in the config."""
    monkeypatch.setenv("QDRANT_API_KEY", "s3cr3t")
    monkeypatch.setenv("RAG_EMBEDDING_API_KEY", "s3cr3t-too")
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "150")
    qdrant = env_config(QDRANT_FIELDS, {"QDRANT_API_KEY": "s3cr3t"})
    assert qdrant == {"api_key": EnvVar("QDRANT_API_KEY")}
    pipeline = env_config(PIPELINE_FIELDS, {"RAG_EMBEDDING_API_KEY": "s3cr3t-too",
                                            "RAG_CHUNK_TOKENS": "150"})
    assert pipeline == {"embedding_api_key": EnvVar("RAG_EMBEDDING_API_KEY"),
                        "chunk_tokens": EnvVar.int("RAG_CHUNK_TOKENS")}
    settings = Settings.from_env()
    assert "s3cr3t" not in repr(settings)
    assert settings.qdrant.api_key == "s3cr3t"


def test_unset_and_blank_variables_keep_the_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"RAG_CHUNK_TOKENS": "  ", "RAG_DATA_DIR": ""})
    assert settings.chunk_tokens == 200
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings == Settings(source_dir=PROJECT_ROOT / "inbox", data_dir=PROJECT_ROOT / "data")


def test_values_are_stripped_on_every_path() -> None:
    """The CLI reads the environment itself; Dagster resolves an EnvVar to the raw text."""
    assert Settings.from_flat({"embedding_model": " all-MiniLM-L6-v2\n",
                               "qdrant_embedded": "edge "}) == Settings.from_env(
        {"RAG_EMBEDDING_MODEL": " all-MiniLM-L6-v2\n", "RAG_QDRANT_EMBEDDED": "edge "})


def test_a_blank_ocr_language_turns_ocr_off() -> None:
    assert Settings.from_env({"RAG_OCR_LANGUAGE": ""}).ocr_language == ""
    assert Settings.from_env({}).ocr_language == "eng"


@pytest.mark.parametrize(("environ", "message"), [
    ({"RAG_CHUNK_TOKENS": "two hundred"}, "RAG_CHUNK_TOKENS must be int"),
    ({"RAG_MAX_DELETE_SHARE": "half"}, "RAG_MAX_DELETE_SHARE must be float"),
    ({"RAG_QDRANT_EMBEDDED": "memory"}, "RAG_QDRANT_EMBEDDED) must be one of edge, local-mode"),
    ({"RAG_KEYWORD_INDEX": "bm25"}, "must be one of auto, rank-bm25, qdrant"),
])
def test_a_malformed_variable_fails_naming_it(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(environ)


def test_an_unknown_setting_name_is_an_error() -> None:
    with pytest.raises(SettingError, match="unknown settings: chunk_token"):
        Settings.from_flat({"chunk_token": 100})


def test_a_folder_as_source_uri_is_the_source_folder(tmp_path: Path) -> None:
    for uri in (str(tmp_path), f"file://{tmp_path}"):
        settings = Settings.from_env({"RAG_SOURCE_URI": uri})
        assert (settings.source_dir, settings.source_uri) == (tmp_path, None)
    bucket = Settings.from_env({"RAG_SOURCE_URI": "s3://docs/handbook"})
    assert bucket.source_uri == "s3://docs/handbook"


def test_the_resources_declare_every_setting_once() -> None:
    names = [*PipelineSettingsResource.model_fields, *QdrantResource.model_fields]
    assert len(names) == len(SETTING_FIELDS) == len({f.env for f in SETTING_FIELDS})
    assert "(RAG_MASS_DELETE_MIN_DOCUMENTS)" in (
        PipelineSettingsResource.model_fields["mass_delete_min_documents"].description)


def test_the_readme_documents_every_variable() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f.env for f in SETTING_FIELDS if f"`{f.env}`" not in readme]
    assert not missing


def test_the_cli_names_a_malformed_variable(monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    from rag_pipeline.cli import main

    monkeypatch.setenv("RAG_EXTRACT_WORKERS", "two")
    assert main(["status"]) == 2
    assert "RAG_EXTRACT_WORKERS must be int, got 'two'" in caplog.text
