"""Embedding through an OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 serving the
packaged paraphrase-MiniLM-L3-v2, with injected 429s, 5xx, slow answers and dropped
connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from assets.ingest_run import IngestError, run_ingest
from rag_pipeline.embedding import embedder_for
from rag_pipeline.models import resolve_model
from rag_pipeline.remote_embedding import OpenAIEndpointEmbedder, RemoteEmbeddingError
from rag_pipeline.search import Searcher
from rag_pipeline.settings import EmbeddingEndpoint, Settings
from rag_pipeline.tokenization import tokenizer_for
from tests.fixtures import write_knowledge_base
from tests.host_speed import budget, slowness
from tests.openai_server import SERVED_MODEL, EmbeddingServer
from tests.test_kill_and_rerun import cached_vectors

REMOTE_MODEL = f"openai:{SERVED_MODEL}?max_tokens=128"
TEXTS = [f"Sentence number {i} is about {topic}." for i, topic in enumerate(
    ["bees", "orbits", "tax law", "sourdough", "volcanoes", "chess"] * 12)]


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(api_key="test-key", slow_seconds=budget(8)) as running:
        yield running


def endpoint_embedder(server: EmbeddingServer, batch_size: int = 8,
                      model: str = REMOTE_MODEL, **options: float) -> OpenAIEndpointEmbedder:
    endpoint = replace(EmbeddingEndpoint(url=server.url, api_key="test-key",
                                         timeout_seconds=budget(3), backoff_seconds=0.02),
                       **options)
    return OpenAIEndpointEmbedder(resolve_model(model), endpoint, batch_size)


def test_vectors_are_the_served_models_and_requests_are_batched(
        server: EmbeddingServer) -> None:
    embedder = endpoint_embedder(server, batch_size=32)
    vectors = embedder.embed(TEXTS)

    local = server.embed(TEXTS, None)  # the served model, in this process
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose((vectors * local).sum(axis=1), 1.0, atol=1e-5)
    assert sorted(r["num_texts"] for r in server.requests) == [8, 32, 32]
    assert {r["authorization"] for r in server.requests} == {"Bearer test-key"}
    assert {r["model"] for r in server.requests} == {SERVED_MODEL}
    usage = embedder.usage_counts()
    assert usage["requests"] == 3 and usage["retries"] == 0
    assert usage["tokens"] == sum(len(t.split()) for t in TEXTS)  # the server's own count

    shortened = endpoint_embedder(server, model=f"openai:{SERVED_MODEL}?dimensions=64")
    assert shortened.embed(TEXTS[:3]).shape == (3, 64)
    assert server.requests[-1]["dimensions"] == 64
    assert shortened.spec.fingerprint != embedder.spec.fingerprint


def test_429s_5xx_timeouts_and_dropped_connections_are_retried(
        server: EmbeddingServer) -> None:
    embedder = endpoint_embedder(server, batch_size=len(TEXTS), max_attempts=7)
    server.faults.extend(["429", "500", "drop", "slow", "503", "429-seconds"])
    started = time.monotonic()
    vectors = embedder.embed(TEXTS)

    np.testing.assert_allclose((vectors * server.embed(TEXTS, None)).sum(axis=1), 1.0,
                               atol=1e-5)
    usage = embedder.usage_counts()
    assert usage["requests"] == 7 and usage["retries"] == 6
    # Both 429s waited what the server asked (150 ms, then Retry-After: 1 s); the other
    # failures waited a short jittered backoff, which is not throttling.
    assert 1.15 <= usage["throttled_seconds"] < 1.5
    assert time.monotonic() - started >= 1.15 + budget(3)  # the slow answer timed out
    gaps = np.diff([r["at"] for r in server.requests])
    assert gaps[0] >= 0.15 and gaps[-1] >= 1.0


def test_a_request_that_keeps_failing_ends_in_one_clear_error(server: EmbeddingServer) -> None:
    embedder = endpoint_embedder(server, max_attempts=3)
    server.fail_after = 0
    with pytest.raises(RemoteEmbeddingError, match=rf"{server.url} failed 3 times .*500"):
        embedder.embed(TEXTS[:5])
    assert len(server.requests) == 3


@pytest.mark.parametrize(("fault", "message"), [
    ("400", "refused the request: 400 .*input is too long"),
    ("garbage", "something other than embeddings"),
])
def test_a_permanent_refusal_or_a_wrong_answer_is_not_retried(
        server: EmbeddingServer, fault: str, message: str) -> None:
    embedder = endpoint_embedder(server)
    server.faults.append(fault)
    with pytest.raises(RemoteEmbeddingError, match=message):
        embedder.embed(TEXTS[:5])
    assert len(server.requests) == 1


def test_a_wrong_key_or_model_is_a_clear_error(server: EmbeddingServer) -> None:
    with pytest.raises(RemoteEmbeddingError, match=r"401 .*invalid API key"):
        endpoint_embedder(server, api_key="wrong").embed(TEXTS[:2])
    with pytest.raises(RemoteEmbeddingError, match=r"404 .*not found"):
        endpoint_embedder(server, model="openai:no-such-model").embed(TEXTS[:2])
    with pytest.raises(ValueError, match="RAG_EMBEDDING_URL"):
        embedder_for(resolve_model(REMOTE_MODEL), endpoint=EmbeddingEndpoint()).embed(["x"])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_requests_in_flight_are_bounded_by_the_concurrency(
        server: EmbeddingServer, concurrency: int) -> None:
    server.delay_seconds = 0.25
    embedder = endpoint_embedder(server, batch_size=4, concurrency=concurrency)
    embedder.embed(TEXTS[:32])  # 8 requests
    assert server.max_in_flight == concurrency
    assert embedder.progress_slice == 4 * concurrency


def test_per_minute_limits_make_requests_wait_their_turn(server: EmbeddingServer) -> None:
    """A full minute's allowance may be spent at once; beyond it, requests wait.

    The allowance refills one request per 60 / `per_minute` seconds while the first ones are
    answered: on a slower host, a smaller allowance refills more slowly, so the last two
    requests still have to wait."""
    per_minute = max(2, round(60 / slowness()))
    interval = 60 / per_minute
    requests_limited = endpoint_embedder(server, batch_size=1, requests_per_minute=per_minute)
    started = time.monotonic()
    requests_limited.embed(TEXTS[:per_minute + 2])  # all at once, then one per interval
    assert time.monotonic() - started >= 1.9 * interval
    # Counted where a request waited: less than the wall time, since the allowance refills
    # while the first ones are answered.
    assert requests_limited.usage_counts()["throttled_seconds"] > 0

    tokenizer = tokenizer_for(resolve_model(REMOTE_MODEL).tokenizer_folder, 128)
    per_text = tokenizer.count(TEXTS[:1])[0]
    tokens_limited = endpoint_embedder(server, batch_size=1,
                                       tokens_per_minute=per_minute * per_text)
    started = time.monotonic()
    tokens_limited.embed([TEXTS[0]] * (per_minute + 1))  # a minute's tokens, then one text's
    assert time.monotonic() - started >= 0.9 * interval
    assert not server.faults and all(r["num_texts"] == 1 for r in server.requests)


def remote_settings(settings: Settings, server: EmbeddingServer, concurrency: int = 1) -> Settings:
    return replace(
        settings, golden_set=None, embedding_model=REMOTE_MODEL, embedding_batch_size=4,
        embedding_endpoint=EmbeddingEndpoint(url=server.url, api_key="test-key",
                                             concurrency=concurrency, max_attempts=2,
                                             backoff_seconds=0.02))


def test_the_pipeline_indexes_and_searches_through_the_endpoint(
        settings: Settings, server: EmbeddingServer) -> None:
    write_knowledge_base(settings.source_dir)
    settings = remote_settings(settings, server)
    reports = run_ingest(settings)

    embedded = reports["chunk_embeddings"]
    assert embedded["embedding_backend"] == "openai"
    assert embedded["embedding_device"] == "remote"
    chunks = int(embedded["num_chunks_embedded"])
    # One request per 4 chunks, plus the drift canary's 6 probe texts (2 requests).
    assert embedded["endpoint_requests"] == -(-chunks // 4) + 2
    assert embedded["endpoint_retries"] == 0 and embedded["endpoint_tokens"] > 0
    hits = Searcher(settings).search("Langstroth hive frames", k=3)
    assert hits[0].chunk.source_path.endswith("beekeeping.docx")


def test_a_failed_request_keeps_the_vectors_of_the_others_in_flight(
        server: EmbeddingServer) -> None:
    embedder = endpoint_embedder(server, batch_size=4, concurrency=2)
    server.faults.extend([None, "400"])  # the second request is refused; three come back
    with pytest.raises(RemoteEmbeddingError, match="400") as failure:
        embedder.embed(TEXTS[:16])
    received = failure.value.received
    assert len(received) == 12 and len(server.requests) == 4
    positions = sorted(received)
    expected = server.embed([TEXTS[i] for i in positions], None)
    np.testing.assert_allclose([received[i] for i in positions], expected, atol=1e-5)


def test_an_endpoint_that_goes_down_fails_the_run_and_loses_no_vector(
        settings: Settings, server: EmbeddingServer) -> None:
    write_knowledge_base(settings.source_dir)
    settings = remote_settings(settings, server, concurrency=2)
    # The probes (2 requests), then one request of the first round of two; then only 500s.
    server.fail_after = 3
    with pytest.raises(IngestError, match=rf"{server.url} failed 2 times"):
        run_ingest(settings)
    assert cached_vectors(settings) == 4  # what came back of the failed round is kept

    server.fail_after = None
    embedded = run_ingest(settings)["chunk_embeddings"]
    assert embedded["num_chunks_reused"] == 4
    assert embedded["endpoint_requests"] == -(-int(embedded["num_chunks_embedded"]) // 4) + 2
    assert cached_vectors(settings) == embedded["num_chunks"]


def test_endpoint_settings_come_from_the_environment_and_survive_the_resource(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from resources import PipelineSettingsResource, QdrantResource
    from resources.pipeline import pipeline_settings

    monkeypatch.setenv("RAG_EMBEDDING_URL", "http://embeddings.internal:8080/v1")
    monkeypatch.setenv("RAG_EMBEDDING_API_KEY", "secret")
    monkeypatch.setenv("RAG_EMBEDDING_CONCURRENCY", "8")
    monkeypatch.setenv("RAG_EMBEDDING_TOKENS_PER_MINUTE", "90000")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    settings = Settings.from_env()
    assert settings.embedding_endpoint == EmbeddingEndpoint(
        url="http://embeddings.internal:8080/v1", api_key="secret", concurrency=8,
        tokens_per_minute=90000)
    assert "secret" not in repr(settings)
    back = pipeline_settings(PipelineSettingsResource.from_settings(settings),
                             QdrantResource.from_settings(settings))
    assert back == settings
    unset = Settings(source_dir=tmp_path, data_dir=tmp_path)
    assert pipeline_settings(PipelineSettingsResource.from_settings(unset),
                             QdrantResource.from_settings(unset)) == unset
