"""Embedding in worker processes, each running the model with few threads.

On a CPU, one process that runs torch with a thread per core loses time at every operator's
barrier, and much more when anything else takes a core for a moment (a search, a sensor, another
tenant): `benchmarks/bench_embedding_workers.py` compares the two on the same texts. Here
each worker process loads the model once and takes the next batch as soon as it is free.

sentence-transformers has a multi-process pool of its own, but it leaves every worker at torch's
default thread count (all cores each) and waits forever on its output queue when a worker dies;
this one fails the call instead (`EmbeddingWorkersError`), so a killed worker fails the run.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Barrier

import numpy as np

from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.parent_watch import exit_with_parent

logger = logging.getLogger(__name__)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class EmbeddingWorkersError(RuntimeError):
    """An embedding worker process died (killed, out of memory): the call fails as a whole."""


_backend = None
_START_TIMEOUT_SECONDS = 600.0


def _start_worker(spec: EmbeddingModelSpec, batch_size: int, threads: int,
                  all_loaded: Barrier) -> None:
    """Runs first in each worker: limit threads before torch or onnxruntime load, load the
    model, then wait for the other workers (so no batch waits for a worker still loading)."""
    exit_with_parent()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    global _backend
    try:
        if spec.backend == "onnx":
            from rag_pipeline.onnx_embedding import OnnxEmbedder

            _backend = OnnxEmbedder(spec, batch_size, threads=threads)
        else:
            import torch

            torch.set_num_threads(threads)
            from rag_pipeline.embedding import SentenceTransformerEmbedder

            _backend = SentenceTransformerEmbedder(spec, batch_size)
        _backend.embed(["warm-up"])
    except BaseException:
        all_loaded.abort()  # the others stop waiting and fail too: the pool reports broken
        raise
    all_loaded.wait(timeout=_START_TIMEOUT_SECONDS)


def _ready() -> int:
    return os.getpid()


def _embed_in_worker(texts: list[str]) -> np.ndarray:
    assert _backend is not None, "worker not initialised"
    return _backend.embed(texts)


class PooledEmbedder:
    """The Embedder interface over `workers` processes with `threads` threads each.

    The processes start on the first call and serve every later call of this process. Texts are
    sent in batches of `batch_size`, in order, so texts sorted by length keep similar lengths
    together; results come back in the order of the texts.

    No worker starts that would get no batch: a call of one batch (a run that embeds a new
    document's few chunks) starts one process, not `workers` copies of the model, and a
    later, larger call replaces it with the full pool.
    """

    def __init__(self, spec: EmbeddingModelSpec, batch_size: int = 32, workers: int = 2,
                 threads: int = 1) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.workers = workers
        self.threads = threads
        self._executor: ProcessPoolExecutor | None = None
        self._size = 0
        self._starting: list[Future] = []
        """The start-up tasks of workers still loading the model."""
        self._dimension = spec.dimension
        self._lock = threading.Lock()

    def _pool(self, batches: int | None = None, wait: bool = True) -> ProcessPoolExecutor:
        """The running workers, at least as many as `batches` can use (all when None), loaded
        unless `wait` is false."""
        size = self.workers if batches is None else max(1, min(self.workers, batches))
        if self._executor is None:
            # One model's workers at a time: after a model switch the old ones only hold
            # memory (they start again if that model is used again).
            for other in [e for e in _running if e is not self]:
                other.close()
        with self._lock:
            if self._executor is not None and self._size < size:
                retired, self._executor = self._executor, None
                retired.shutdown(wait=False)  # what it was given still completes
            if self._executor is None:
                logger.info("starting %d embedding worker(s) (%d thread(s) each) for %s",
                            size, self.threads, self.spec.name)
                context = multiprocessing.get_context("spawn")
                executor = ProcessPoolExecutor(
                    max_workers=size, mp_context=context, initializer=_start_worker,
                    initargs=(self.spec, self.batch_size, self.threads, context.Barrier(size)))
                # Workers of a spawn pool start on demand: one task each starts them all now,
                # loading the model side by side.
                self._starting = [executor.submit(_ready) for _ in range(size)]
                self._executor, self._size = executor, size
                if self not in _running:
                    _running.append(self)
            executor, starting = self._executor, self._starting
        if wait and starting:
            try:
                for future in starting:
                    future.result()
            except BrokenProcessPool as exc:
                self.close()
                raise EmbeddingWorkersError(
                    f"the embedding worker processes could not start ({exc})") from exc
            self._starting = []
        return executor

    def prepare(self, num_texts: int, wait: bool = True) -> None:
        """Start the workers `num_texts` texts can keep busy, before smaller calls come;
        `wait=False` returns while they load (the next call waits for them)."""
        self._pool(-(-num_texts // self.batch_size), wait=wait)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.submit(texts).result()

    def submit(self, texts: list[str]) -> PendingVectors:
        """Queue `texts` (non-empty) for the workers and return at once: a caller that submits
        the next texts before collecting these keeps every worker busy across the boundary."""
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        try:
            pool = self._pool(len(batches))
            return PendingVectors(self, [pool.submit(_embed_in_worker, b) for b in batches])
        except BrokenProcessPool as exc:
            raise self._broken(exc) from exc

    def _broken(self, exc: BaseException) -> EmbeddingWorkersError:
        self.close()  # the next call starts fresh workers
        return EmbeddingWorkersError(
            f"an embedding worker process died ({exc}); nothing of this call was kept. "
            "If it ran out of memory, lower RAG_EMBEDDING_WORKERS")

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
            self._starting = []
            if self in _running:
                _running.remove(self)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class PendingVectors:
    """Vectors being computed by the workers, in the order of the submitted texts."""

    def __init__(self, embedder: PooledEmbedder, futures: list[Future]) -> None:
        self._embedder = embedder
        self._futures = futures

    def result(self) -> np.ndarray:
        try:
            vectors = [future.result() for future in self._futures]
        except BrokenProcessPool as exc:
            raise self._embedder._broken(exc) from exc
        out = np.concatenate(vectors).astype(np.float32, copy=False)
        self._embedder._dimension = int(out.shape[1])
        return out

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()


_running: list[PooledEmbedder] = []


@atexit.register
def _close_all() -> None:
    for embedder in list(_running):
        embedder.close()
