from __future__ import annotations

from pathlib import Path

import pytest

from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.settings import Settings
from rag_pipeline.tokenization import ModelTokenizer, tokenizer_for


@pytest.fixture(scope="session")
def model_spec() -> EmbeddingModelSpec:
    return resolve_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def tokenizer(model_spec: EmbeddingModelSpec) -> ModelTokenizer:
    return tokenizer_for(model_spec.tokenizer_folder, model_spec.max_seq_length)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    source = tmp_path / "source"
    source.mkdir()
    return Settings(source_dir=source, data_dir=tmp_path / "data")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's own model cache (the query graph is exported once per session, by the
    suite, not taken from the machine's cache)."""
    import os

    folder = tmp_path_factory.mktemp("model-cache")
    os.environ["RAG_MODEL_CACHE_DIR"] = str(folder)
    return folder
