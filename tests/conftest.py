from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.settings import Settings
from rag_pipeline.tokenization import ModelTokenizer, tokenizer_for
from tests.host_speed import slowness
from tests.postgres_server import PostgresServer, postgres_bin, postgres_server

_databases = itertools.count()


def pytest_report_header() -> str:
    return (f"time limits x{slowness():.1f} for this host's speed (tests/host_speed.py; "
            "RAG_TEST_TIME_SCALE sets it)")


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
    folder = tmp_path_factory.mktemp("model-cache")
    os.environ["RAG_MODEL_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster per test process (see `tests.postgres_server`)."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs it where it can)")
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database on that cluster for one test."""
    import re

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    return postgres.create_database(f"{name}_{os.getpid()}_{next(_databases)}")
