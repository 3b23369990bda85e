"""Embedding through an OpenAI-compatible `/v1/embeddings` endpoint (the `openai:` models).

The adapter owns what a remote service needs: batches sent by a few threads at once, the
provider's request and token limits kept on this side (a token bucket, so requests wait for
their turn instead of collecting 429s), retries with jittered exponential backoff on 429s, 5xx,
timeouts and dropped connections (a 429's Retry-After is honoured), then one clear error. It
counts what it did (requests, retries, throttled seconds, tokens) for the run's metadata.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

import httpx
import numpy as np
from pyrate_limiter import Duration, Limiter, limiter_factory
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from rag_pipeline.embedding import PartialEmbeddingError
from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.settings import EmbeddingEndpoint
from rag_pipeline.tokenization import tokenizer_for

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 300.0
"""A Retry-After longer than this is cut to it: the run keeps trying rather than sleeping for
hours on one answer."""


class RemoteEmbeddingError(PartialEmbeddingError):
    """The endpoint refused a request for good (a 4xx other than 429), answered something that
    is not embeddings, or kept failing after every retry. `received`: the vectors of the same
    call's requests that did come back."""

    def __init__(self, message: str, received: dict[int, np.ndarray] | None = None) -> None:
        super().__init__(message, received or {})


class _Transient(Exception):
    """A failure worth another try: 429, 5xx, a timeout or a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None,
                 throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass
class EndpointUsage:
    """What the endpoint was asked for since the embedder was made (the run reports the
    difference across its embedding step)."""

    requests: int = 0
    """HTTP requests sent, retries included."""
    retries: int = 0
    throttled_seconds: float = 0.0
    """Time spent waiting on the provider's limits: ours (token bucket) and its 429s."""
    tokens: int = 0
    """Tokens the endpoint reported using (our tokenizer's count where it reports none)."""


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or a date)."""
    millis = response.headers.get("retry-after-ms")
    value = response.headers.get("retry-after")
    try:
        if millis is not None:
            seconds = float(millis) / 1000
        elif value is None:
            return None
        elif value.strip().replace(".", "", 1).isdigit():
            seconds = float(value)
        else:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _per_minute(limit: int) -> Limiter | None:
    return limiter_factory.create_token_bucket_limiter(limit, Duration.MINUTE) if limit else None


class OpenAIEndpointEmbedder:
    """An `Embedder` whose vectors come from `endpoint.url`/embeddings, L2-normalised."""

    def __init__(self, spec: EmbeddingModelSpec, endpoint: EmbeddingEndpoint,
                 batch_size: int = 32) -> None:
        if not endpoint.url:
            raise ValueError(f"embedding model openai:{spec.name} needs the endpoint's URL "
                             "(RAG_EMBEDDING_URL, e.g. https://api.openai.com/v1)")
        self.spec = spec
        self.endpoint = endpoint
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, endpoint.concurrency)
        self.progress_slice = self.batch_size * self.concurrency
        """Texts per embedding slice: one round of concurrent requests, so a run that fails
        keeps (caches) every round that came back."""
        self.usage = EndpointUsage()
        self._usage_lock = threading.Lock()
        self._requests_limit = _per_minute(endpoint.requests_per_minute)
        self._tokens_limit = _per_minute(endpoint.tokens_per_minute)
        self._tokenizer = tokenizer_for(spec.tokenizer_folder, spec.max_seq_length)
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._client = httpx.Client(
            base_url=endpoint.url.rstrip("/") + "/", headers=headers,
            timeout=httpx.Timeout(endpoint.timeout_seconds),
            limits=httpx.Limits(max_connections=self.concurrency))
        self._threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="embed-request")
        self._dimension = spec.dimension

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def usage_counts(self) -> dict[str, float]:
        with self._usage_lock:
            return asdict(self.usage)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            return self._request_with_retries(batches[0])
        futures = [self._threads.submit(self._request_with_retries, b) for b in batches]
        wait(futures)  # every request ends (answered or given up) before an error is raised
        failed = next((f.exception() for f in futures if f.exception() is not None), None)
        if failed is None:
            return np.concatenate([f.result() for f in futures])
        received = {i * self.batch_size + row: vector
                    for i, f in enumerate(futures) if f.exception() is None
                    for row, vector in enumerate(f.result())}
        if isinstance(failed, RemoteEmbeddingError):
            raise RemoteEmbeddingError(str(failed), received) from failed
        raise failed

    def _count(self, **deltas: float) -> None:
        with self._usage_lock:
            for name, delta in deltas.items():
                setattr(self.usage, name, getattr(self.usage, name) + delta)

    def _wait(self, state: RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        if isinstance(error, _Transient) and error.retry_after is not None:
            return error.retry_after
        return wait_random_exponential(multiplier=self.endpoint.backoff_seconds,
                                       max=MAX_BACKOFF_SECONDS)(state)

    def _before_retry(self, state: RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        error = state.outcome.exception()
        seconds = state.next_action.sleep
        throttled = isinstance(error, _Transient) and error.throttled
        self._count(retries=1, throttled_seconds=seconds if throttled else 0.0)
        log = logger.info if throttled else logger.warning
        log("embedding endpoint %s: %s; try %d of %d in %.1f s", self.endpoint.url, error,
            state.attempt_number + 1, self.endpoint.max_attempts, seconds)

    def _request_with_retries(self, texts: list[str]) -> np.ndarray:
        tokens = sum(self._tokenizer.count(texts))
        retrying = Retrying(stop=stop_after_attempt(max(1, self.endpoint.max_attempts)),
                            wait=self._wait, retry=retry_if_exception_type(_Transient),
                            before_sleep=self._before_retry, reraise=True)
        try:
            return retrying(self._request, texts, tokens)
        except _Transient as exc:
            raise RemoteEmbeddingError(
                f"embedding endpoint {self.endpoint.url} failed {self.endpoint.max_attempts} "
                f"times for a batch of {len(texts)} texts, last: {exc}") from exc

    def _take_turn(self, tokens: int) -> None:
        """Wait until the provider's per-minute limits allow this request."""
        started = time.perf_counter()
        if self._requests_limit is not None:
            self._requests_limit.try_acquire("requests")
        if self._tokens_limit is not None:  # a request larger than a minute's worth waits one
            self._tokens_limit.try_acquire(
                "tokens", weight=max(1, min(tokens, self.endpoint.tokens_per_minute)))
        waited = time.perf_counter() - started
        if waited > 0.01:
            self._count(throttled_seconds=waited)

    def _request(self, texts: list[str], tokens: int) -> np.ndarray:
        self._take_turn(tokens)
        body: dict[str, object] = {"model": self.spec.name, "input": texts}
        if self.spec.dimension:
            body["dimensions"] = self.spec.dimension
        self._count(requests=1)
        try:
            response = self._client.post("embeddings", json=body)
        except httpx.TimeoutException as exc:
            raise _Transient(f"no answer within {self.endpoint.timeout_seconds} s "
                             f"({type(exc).__name__})") from exc
        except httpx.TransportError as exc:  # refused, reset or dropped connections
            raise _Transient(f"connection failed ({type(exc).__name__}: {exc})") from exc
        if response.status_code == 429:
            raise _Transient("429 Too Many Requests", _retry_after(response), throttled=True)
        if response.status_code in (408, 409) or response.status_code >= 500:
            raise _Transient(f"{response.status_code} {response.reason_phrase}",
                             _retry_after(response))
        if response.status_code >= 400:
            raise RemoteEmbeddingError(
                f"embedding endpoint {self.endpoint.url} refused the request: "
                f"{response.status_code} {response.reason_phrase}: {response.text[:300]}")
        return self._vectors(response, texts, tokens)

    def _vectors(self, response: httpx.Response, texts: list[str], tokens: int) -> np.ndarray:
        try:
            answer = response.json()
            rows = sorted(answer["data"], key=lambda row: row["index"])
            vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteEmbeddingError(f"embedding endpoint {self.endpoint.url} answered "
                                       f"something other than embeddings: {exc!r}") from exc
        expected = (len(texts), self.spec.dimension or (vectors.shape[1] if vectors.ndim == 2
                                                          else -1))
        if vectors.ndim != 2 or vectors.shape != expected:
            raise RemoteEmbeddingError(
                f"embedding endpoint {self.endpoint.url} returned vectors of shape "
                f"{vectors.shape} for {len(texts)} texts (expected {expected})")
        usage = answer.get("usage") or {}
        self._count(tokens=int(usage.get("total_tokens") or usage.get("prompt_tokens")
                               or tokens))
        return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
