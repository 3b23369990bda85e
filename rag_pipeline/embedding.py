"""Embedding models behind one interface; torch and onnxruntime are imported lazily.

`embedder_for` wraps every backend so that no text is silently truncated: a text longer than the
model's window (a chunk made for a model with a longer window, before a model switch) is embedded
as the token-weighted mean of consecutive windows.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.settings import EmbeddingEndpoint
from rag_pipeline.tokenization import tokenizer_for

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    spec: EmbeddingModelSpec

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


class PartialEmbeddingError(RuntimeError):
    """A backend failed part of a call after computing the rest (a remote endpoint's other
    requests): `received` maps the positions of the texts it did embed to their vectors, so
    the caller can keep what was paid for."""

    def __init__(self, message: str, received: dict[int, np.ndarray]) -> None:
        super().__init__(message)
        self.received = received


class PendingEmbedding(Protocol):
    """Vectors a backend is still computing (`submit`, where a backend has it)."""

    def result(self) -> np.ndarray: ...

    def cancel(self) -> None: ...


def embed_in_slices(embedder: Embedder, texts: list[str], slice_size: int) -> Iterator[np.ndarray]:
    """Each `slice_size` texts' vectors in turn, through `embed_slices` when the embedder has
    it (it keeps worker processes busy across slices)."""
    slices = getattr(embedder, "embed_slices", None)
    if slices is not None:
        yield from slices(texts, slice_size)
        return
    for start in range(0, len(texts), slice_size):
        yield embedder.embed(texts[start : start + slice_size])


class SentenceTransformerEmbedder:
    """Loads the model from its local folder on first use, never from a hub."""

    def __init__(self, spec: EmbeddingModelSpec, batch_size: int = 32, device: str = "cpu") -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    def _load(self):  # noqa: ANN202 - SentenceTransformer, imported lazily
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                logger.info("loading embedding model %s from %s", self.spec.name, self.spec.path)
                model = SentenceTransformer(str(self.spec.path), device=self.device,
                                            local_files_only=True)
                if self.device != "cpu":
                    model.half()  # fp16: what GPUs compute fastest
                model.max_seq_length = self.spec.max_seq_length
                self._model = model
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = (getattr(model, "get_embedding_dimension", None)
                  or model.get_sentence_embedding_dimension)
        return int(getter())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
            normalize_embeddings=False,  # the model's own Normalize module decides
        )
        return np.asarray(vectors, dtype=np.float32)


class WindowingEmbedder:
    """Embeds texts that fit the model's window directly, longer ones as a mean of windows."""

    def __init__(self, backend: Embedder) -> None:
        self.backend = backend
        self.spec = backend.spec
        self.num_windowed = 0
        """Texts embedded as several windows since this embedder was made."""

    @property
    def dimension(self) -> int:
        return self.backend.dimension

    @property
    def progress_slice(self) -> int | None:
        """Texts per slice the backend wants (a remote one: one round of requests)."""
        return getattr(self.backend, "progress_slice", None)

    def usage_counts(self) -> dict[str, float]:
        """The backend's counters (a remote one: requests, retries, throttled seconds, tokens);
        empty for local models."""
        counts = getattr(self.backend, "usage_counts", None)
        return counts() if counts is not None else {}

    def prepare(self, num_texts: int, wait: bool = True) -> None:
        """Start what `num_texts` texts will use (a worker pool: as many workers as they have
        batches), before a few probe texts would start less; `wait=False` returns while the
        model loads."""
        prepare = getattr(self.backend, "prepare", None)
        if prepare is not None:
            prepare(num_texts, wait=wait)

    @staticmethod
    def _windows(text: str, offsets: list[tuple[int, int]], limit: int) -> list[tuple[str, int]]:
        return [(text[offsets[i][0] : offsets[min(i + limit, len(offsets)) - 1][1]],
                 min(limit, len(offsets) - i)) for i in range(0, len(offsets), limit)]

    def _plan(self, texts: list[str]) -> _Plan:
        tokenizer = tokenizer_for(self.spec.tokenizer_folder, self.spec.max_seq_length)
        limit = tokenizer.max_content_tokens
        counts = tokenizer.count(texts)  # one batch call; offsets only for the long texts
        if all(n <= limit for n in counts):
            return _Plan(texts, None)
        windows = [self._windows(text, tokenizer.offsets(text), limit) if n > limit
                   else [(text, max(n, 1))] for text, n in zip(texts, counts, strict=True)]
        return _Plan([piece for w in windows for piece, _ in w], windows)

    def _combine(self, plan: _Plan, vectors: np.ndarray) -> np.ndarray:
        if plan.windows is None:
            return vectors
        out = np.empty((len(plan.windows), vectors.shape[1]), dtype=np.float32)
        row = 0
        for i, w in enumerate(plan.windows):
            weights = np.array([n for _, n in w], dtype=np.float32)[:, None]
            out[i] = (vectors[row : row + len(w)] * weights).sum(axis=0) / weights.sum()
            row += len(w)
        if self.spec.normalize:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        windowed = sum(len(w) > 1 for w in plan.windows)
        self.num_windowed += windowed
        logger.info("%d of %d texts exceed %s's %d-token window: embedded as the mean of their "
                    "windows", windowed, len(plan.windows), self.spec.name,
                    self.spec.max_seq_length)
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return self.backend.embed(texts)
        plan = self._plan(texts)
        try:
            vectors = self.backend.embed(plan.pieces)
        except PartialEmbeddingError as exc:
            if plan.windows is not None:  # positions are windows' then: keep none of them
                exc.received = {}
            raise
        return self._combine(plan, vectors)

    def embed_slices(self, texts: list[str], slice_size: int) -> Iterator[np.ndarray]:
        """The vectors of each `slice_size` texts in turn, so a caller can save and report
        progress per slice. A backend with `submit` (the worker pool) already has the next
        slice queued while this one finishes, so no worker waits at a slice boundary."""
        submit = getattr(self.backend, "submit", None)
        slices = (texts[i : i + slice_size] for i in range(0, len(texts), slice_size))
        if submit is None:
            yield from (self.embed(part) for part in slices)
            return
        queued: deque[tuple[_Plan, PendingEmbedding]] = deque()
        try:
            for part in slices:
                plan = self._plan(part)
                queued.append((plan, submit(plan.pieces)))
                if len(queued) > 1:
                    plan, pending = queued.popleft()
                    yield self._combine(plan, pending.result())
            while queued:
                plan, pending = queued.popleft()
                yield self._combine(plan, pending.result())
        finally:
            for _, pending in queued:  # the caller stopped early, or a slice failed
                pending.cancel()


@dataclass(frozen=True)
class _Plan:
    pieces: list[str]
    """What the backend embeds: the texts, or every text's windows."""
    windows: list[list[tuple[str, int]]] | None
    """Per text, its windows and their token counts; None when every text fits."""


_embedders: dict[tuple[object, ...], WindowingEmbedder] = {}
_embedders_lock = threading.Lock()


_DEVICES = ("auto", "cpu", "cuda", "mps")
GPU_BATCH_FACTOR = 4
"""On a GPU, batches of RAG_EMBEDDING_BATCH_SIZE x this: a CPU-sized batch leaves it idle."""


def resolve_device(device: str) -> str:
    """The torch device for `device`: auto is CUDA, then Apple's MPS, then the CPU. On Linux
    without an NVIDIA driver, and off macOS, auto is the CPU without importing torch (which
    costs seconds per run and is otherwise imported only by the embedding workers)."""
    device = device.strip().lower() or "auto"
    if device.split(":")[0] not in _DEVICES:
        raise ValueError(f"RAG_EMBEDDING_DEVICE must be one of auto, cpu, cuda, cuda:N, mps; "
                         f"got {device!r}")
    if device != "auto":
        return device
    nvidia = Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi")
    if not nvidia and sys.platform != "darwin":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def embedder_for(spec: EmbeddingModelSpec, batch_size: int = 32,
                 device: str = "cpu", workers: int = 1,
                 endpoint: EmbeddingEndpoint | None = None) -> WindowingEmbedder:
    """One loaded model per process: repeated in-process runs do not reload it.

    workers > 1 (CPU only): the model runs in that many worker processes, each with an equal
    share of the cores as threads (`embedding_pool`), started on first use. workers = 1: in this
    process, with torch's default threads (a search's single query). On a GPU the model runs
    in this process, in fp16, with larger batches; ONNX models run on the CPU. An `openai:`
    model is asked of `endpoint` (`remote_embedding`): no device, no worker process."""
    if spec.backend == "openai":
        device, workers = "remote", 1
    elif spec.quantized_from is not None:  # built here, before any worker loads it
        from rag_pipeline.query_graph import ensure_int8_graph

        ensure_int8_graph(spec)
        device = "cpu"
    else:
        device = resolve_device(device)
    if device not in ("cpu", "remote") and spec.backend != "onnx":
        batch_size *= GPU_BATCH_FACTOR
    key = (spec.fingerprint, spec.backend, str(spec.path), batch_size, device, workers,
           endpoint if spec.backend == "openai" else None)
    with _embedders_lock:
        if key not in _embedders:
            backend: Embedder
            if spec.backend == "openai":
                from rag_pipeline.remote_embedding import OpenAIEndpointEmbedder

                backend = OpenAIEndpointEmbedder(spec, endpoint or EmbeddingEndpoint(),
                                                 batch_size)
            elif workers > 1 and device == "cpu":
                from rag_pipeline.embedding_pool import PooledEmbedder, usable_cores

                backend = PooledEmbedder(spec, batch_size, workers,
                                         threads=max(1, usable_cores() // workers))
            elif spec.backend == "onnx":
                from rag_pipeline.onnx_embedding import OnnxEmbedder

                backend = OnnxEmbedder(spec, batch_size)
            else:
                backend = SentenceTransformerEmbedder(spec, batch_size, device)
            _embedders[key] = WindowingEmbedder(backend)
        return _embedders[key]
