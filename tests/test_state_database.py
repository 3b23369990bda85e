"""The pipeline's state (ledger, collection registry, verified states, embedding cache) on a real
PostgreSQL server started by the test, as on the default SQLite files: the same outcome, a schema
per knowledge base, and a server that goes away is waited for, then named in a clear error."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psycopg
import pytest

from assets.ingest_run import run_ingest
from rag_pipeline import state_database
from rag_pipeline.collections import CollectionRegistry
from rag_pipeline.embedding_cache import EmbeddingCache
from rag_pipeline.knowledge_bases import load_knowledge_bases
from rag_pipeline.ledger import Ledger
from rag_pipeline.search import search
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import (
    StateDatabase,
    StateDatabaseError,
    embedding_cache_state,
    pipeline_state,
)
from tests.fixtures import write_knowledge_base
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.slow


def ledger_contents(settings: Settings) -> tuple[dict, dict]:
    """What the ledger says, minus times: documents by path, chunk ids by path."""
    ledger = Ledger(pipeline_state(settings))
    documents = ledger.documents()
    by_path = {d.source_path: (d.status, d.file_hash, d.text_hash, d.num_chunks, d.language,
                               d.processing) for d in documents.values()}
    chunks = {documents[doc_id].source_path: ids
              for doc_id, ids in ledger.chunk_ids(documents).items()}
    return by_path, chunks


def test_the_pipeline_keeps_its_state_on_postgresql_as_on_sqlite(
        postgres_url: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    paths = write_knowledge_base(source)
    on_sqlite = Settings(source_dir=source, data_dir=tmp_path / "sqlite", golden_set=None)
    on_postgres = replace(on_sqlite, data_dir=tmp_path / "postgres", database_url=postgres_url)

    run_ingest(on_sqlite)
    first = run_ingest(on_postgres)
    assert first["extracted_documents"]["num_documents_new"] == len(paths)
    assert ledger_contents(on_postgres) == ledger_contents(on_sqlite)
    assert not list((tmp_path / "postgres").rglob("*.sqlite"))  # no state beside the index
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        assert {"documents", "chunks", "collections", "verified_states", "vectors"} <= tables
        cached = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    assert cached >= Ledger(pipeline_state(on_postgres)).num_chunks() > 0  # + drift probes
    [hit] = search("geostationary orbit above the equator", k=1, settings=on_postgres)
    assert hit.chunk.source_path == "space/satellites.pdf"

    again = run_ingest(on_postgres)
    assert again["extracted_documents"]["num_documents_unchanged"] == len(paths)
    assert again["chunk_embeddings"]["num_chunks_embedded"] == 0

    paths["chess.txt"].write_text("Chess openings: the Sicilian Defence answers 1.e4 with c5 "
                                  "and fights for the centre from the side.\n")
    paths["satellites.pdf"].unlink()
    for settings in (on_sqlite, on_postgres):
        run_ingest(settings)
    assert ledger_contents(on_postgres) == ledger_contents(on_sqlite)
    assert "space/satellites.pdf" not in ledger_contents(on_postgres)[0]


def test_knowledge_bases_keep_their_state_apart_in_one_database(
        postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "kb.yaml").write_text(
        "knowledge_bases:\n  inbox: {}\n  handbook:\n    settings:\n      source_dir: handbook\n")
    bases = load_knowledge_bases(tmp_path / "kb.yaml",
                                 {"RAG_DATABASE_URL": postgres_url,
                                  "RAG_STAGING_URI": "s3://shared/staging/",
                                  "RAG_DATA_DIR": str(tmp_path / "data")})
    inbox, handbook = (base.settings for base in bases)
    assert (inbox.database_schema, handbook.database_schema) == (None, "handbook")
    assert (inbox.staging_uri, handbook.staging_uri) == ("s3://shared/staging/",
                                                         "s3://shared/staging/handbook")
    assert handbook.database_url == postgres_url

    CollectionRegistry(pipeline_state(inbox)).register("docs_a", "model", "fp", 3)
    assert [r.name for r in CollectionRegistry(pipeline_state(inbox)).all()] == ["docs_a"]
    assert CollectionRegistry(pipeline_state(handbook)).all() == []
    assert Ledger(pipeline_state(handbook)).documents() == {}

    vector = np.arange(3, dtype=np.float32)
    EmbeddingCache(embedding_cache_state(handbook)).put("fp", {"hash": vector})
    shared = EmbeddingCache(embedding_cache_state(inbox)).get("fp", ["hash"])
    assert np.array_equal(shared["hash"], vector)  # one cache: a text is embedded once


def _drop_connections(server: PostgresServer, database: str) -> int:
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        return len(conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()", (database,)).fetchall())


def test_a_lost_server_is_waited_for_then_named_in_a_clear_error(
        postgres: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    url_with_password = postgres_url.replace("postgres@", "postgres:hunter2@")
    registry = CollectionRegistry(StateDatabase(url_with_password, "kb"))
    registry.register("docs_a", "model", "fp", 3)

    # Connections the server dropped (a restart, a failover) are replaced, unnoticed.
    assert _drop_connections(postgres, database) >= 1
    assert [r.name for r in registry.all()] == ["docs_a"]

    # A server that is down for a while: the store waits and carries on when it is back.
    postgres.stop()
    restarter = threading.Timer(3.0, postgres.start)
    restarter.start()
    try:
        started = time.monotonic()
        registry.mark_published("docs_a")
        assert time.monotonic() - started >= 2.5
    finally:
        restarter.join()
    assert registry.live() is not None and registry.live().name == "docs_a"

    # Down for longer than the store waits: a clear error, without the password.
    monkeypatch.setattr(state_database, "RETRY_SECONDS", 2.0)
    postgres.stop()
    try:
        with pytest.raises(StateDatabaseError) as failure:
            registry.all()
        message = str(failure.value)
        assert "unreachable for 2 s" in message and "RAG_DATABASE_URL" in message
        assert "hunter2" not in message
    finally:
        postgres.start()
    assert [r.name for r in registry.all()] == ["docs_a"]
