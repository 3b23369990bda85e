"""Embedding worker processes: the in-process vectors, in order; a dead worker fails the call."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag_pipeline.embedding import WindowingEmbedder, embed_in_slices, embedder_for
from rag_pipeline.embedding_pool import EmbeddingWorkersError, PooledEmbedder
from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import Settings
from tests.host_speed import budget

TEXTS = [f"Document {i}: " + "tidal currents shape the estuary's sand banks. " * (1 + i % 7)
         for i in range(70)]


def _new_workers(before: set) -> int:
    return len({p for p in multiprocessing.active_children() if p.is_alive()} - before)


def test_workers_return_the_in_process_vectors_in_order(model_spec: EmbeddingModelSpec) -> None:
    """...and no worker starts that would get no batch (each one loads the model)."""
    pooled = PooledEmbedder(model_spec, batch_size=8, workers=2)
    before = set(multiprocessing.active_children())
    try:
        first = pooled.embed(TEXTS[:4])  # one batch: one worker
        assert _new_workers(before) == 1
        pooled.prepare(len(TEXTS), wait=False)  # returns while the full pool loads
        assert _new_workers(before) >= 2
        vectors = pooled.embed(TEXTS)  # 9 batches over 2 workers
        deadline = time.monotonic() + budget(15)
        while _new_workers(before) != 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the one-worker pool exits once retired
        assert _new_workers(before) == 2
        assert np.allclose(vectors[:4], first, atol=1e-6)
        assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
        expected = embedder_for(model_spec).embed(TEXTS)
        assert np.allclose(vectors, expected, atol=1e-5)
        assert pooled.embed([]).shape == (0, 384)
    finally:
        pooled.close()


def test_a_killed_worker_fails_the_call_and_the_next_call_starts_fresh_workers(
        model_spec: EmbeddingModelSpec) -> None:
    pooled = PooledEmbedder(model_spec, batch_size=8, workers=2)
    try:
        first = pooled.embed(TEXTS[:4])
        executor = pooled._pool()
        for process in list(executor._processes.values()):  # what the OOM killer would do
            process.kill()
            process.join()
        with pytest.raises(EmbeddingWorkersError, match="worker process died"):
            pooled.embed(TEXTS)
        assert np.allclose(pooled.embed(TEXTS[:4]), first, atol=1e-6)
    finally:
        pooled.close()


def test_the_pipeline_embeds_in_workers_and_searches_in_process(settings: Settings) -> None:

    services = PipelineServices(settings)
    assert settings.embedding_workers == 2
    assert isinstance(services.embedder.backend, PooledEmbedder)  # type: ignore[attr-defined]
    assert not isinstance(services.query_embedder.backend,  # type: ignore[attr-defined]
                          PooledEmbedder)


def test_workers_that_cannot_load_the_model_fail_at_once(model_spec: EmbeddingModelSpec,
                                                         tmp_path: Path) -> None:
    broken = replace(model_spec, path=tmp_path / "no-such-model", fingerprint="broken")
    pooled = PooledEmbedder(broken, batch_size=8, workers=2)
    started = time.perf_counter()
    with pytest.raises(EmbeddingWorkersError, match="could not start"):
        pooled.embed(TEXTS[:4])
    assert time.perf_counter() - started < budget(120)  # not the 600 s start-up timeout


class _Pending:
    def __init__(self, log: list[str], vectors: np.ndarray) -> None:
        self._log, self._vectors = log, vectors

    def result(self) -> np.ndarray:
        self._log.append(f"result {len(self._vectors)}")
        return self._vectors

    def cancel(self) -> None:
        self._log.append(f"cancel {len(self._vectors)}")


class _RecordingBackend:
    """Stands for the worker pool: records when slices are queued, collected, cancelled."""

    def __init__(self, spec: EmbeddingModelSpec) -> None:
        self.spec = spec
        self.dimension = 4
        self.log: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t), i, 0, 1] for i, t in enumerate(texts)], dtype=np.float32)

    def submit(self, texts: list[str]) -> _Pending:
        self.log.append(f"submit {len(texts)}")
        return _Pending(self.log, self.embed(texts))


def test_the_next_slice_is_queued_before_a_slice_is_collected(
        model_spec: EmbeddingModelSpec) -> None:
    backend = _RecordingBackend(model_spec)
    slices = WindowingEmbedder(backend).embed_slices(TEXTS[:25], 10)
    first = next(slices)
    assert first.shape == (10, 4)
    assert backend.log == ["submit 10", "submit 10", "result 10"]
    slices.close()  # the caller stops early: what is still queued is cancelled
    assert backend.log[-1] == "cancel 10"
    rest = list(WindowingEmbedder(backend).embed_slices(TEXTS[:25], 10))
    assert [len(v) for v in rest] == [10, 10, 5]


def test_slices_from_the_workers_match_one_call_including_a_windowed_text(
        model_spec: EmbeddingModelSpec) -> None:
    long_text = " ".join(f"word{i} about tides" for i in range(400))  # beyond 256 tokens
    texts = [*TEXTS[:30], long_text, *TEXTS[30:40]]
    embedder = WindowingEmbedder(PooledEmbedder(model_spec, batch_size=4, workers=2))
    try:
        sliced = np.concatenate(list(embed_in_slices(embedder, texts, 12)))
        assert embedder.num_windowed == 1
        assert np.allclose(sliced, embedder_for(model_spec).embed(texts), atol=1e-5)
    finally:
        embedder.backend.close()  # type: ignore[attr-defined]
