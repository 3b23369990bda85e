"""An OpenAI-compatible `/v1/embeddings` server on 127.0.0.1 that serves a packaged model, with
faults to inject: what the remote-endpoint tests and `benchmarks.bench_embedding` talk to."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import numpy as np

from rag_pipeline.models import resolve_model
from rag_pipeline.onnx_embedding import OnnxEmbedder

SERVED_MODEL = "paraphrase-MiniLM-L3-v2"
"""ONNX, so the server needs no torch; its window is 128 tokens."""

FAULTS = ("429", "429-seconds", "500", "503", "slow", "drop", "400", "garbage")
"""What `EmbeddingServer.faults` may hold, one per request: a 429 with retry-after-ms (or, for
429-seconds, Retry-After: 1), a 500 or 503, an answer after `slow_seconds`, a connection
closed without an answer, a 400 (permanent), a 200 that is not JSON."""


class EmbeddingServer:
    """Start with `with EmbeddingServer() as server:`; `server.url` is the API's base URL."""

    def __init__(self, api_key: str | None = None, delay_seconds: float = 0.0,
                 slow_seconds: float = 2.0, retry_after_ms: int = 150) -> None:
        self.api_key = api_key
        self.delay_seconds = delay_seconds
        """Every answer waits this long (a remote service's latency)."""
        self.slow_seconds = slow_seconds
        self.retry_after_ms = retry_after_ms
        self.faults: deque[str | None] = deque()
        self.fail_after: int | None = None
        """Answer 500 to every request after this many (an endpoint that went down)."""
        self.requests: list[dict[str, object]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self.embedder = OnnxEmbedder(resolve_model(SERVED_MODEL), batch_size=64)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EmbeddingServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def embed(self, texts: list[str], dimensions: int | None) -> np.ndarray:
        with self._model_lock:
            vectors = self.embedder.embed(texts)
        if dimensions:  # shortened the way OpenAI's text-embedding-3 models are
            vectors = vectors[:, :dimensions]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _next_fault(self) -> str | None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.fail_after is not None and len(self.requests) > self.fail_after:
                return "500"
            return self.faults.popleft() if self.faults else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests assert on `server.requests`."""

            def _answer(self, status: int, body: bytes,
                        headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str,
                       headers: dict[str, str] | None = None) -> None:
                self._answer(status, json.dumps({"error": {"message": message}}).encode(),
                             headers)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                texts = request.get("input") or []
                texts = [texts] if isinstance(texts, str) else texts
                with server._lock:
                    server.requests.append({
                        "path": self.path, "model": request.get("model"),
                        "num_texts": len(texts), "dimensions": request.get("dimensions"),
                        "authorization": self.headers.get("Authorization"),
                        "at": time.monotonic()})
                fault = server._next_fault()
                try:
                    self._serve(fault, request, texts)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _serve(self, fault: str | None, request: dict, texts: list[str]) -> None:
                if self.path.rstrip("/") != "/v1/embeddings":
                    return self._error(404, f"no route {self.path}")
                if server.api_key and self.headers.get("Authorization") != (
                        f"Bearer {server.api_key}"):
                    return self._error(401, "invalid API key")
                if fault == "drop":
                    self.close_connection = True
                    return None  # nothing written: the client sees the connection closed
                if fault == "429":
                    return self._error(429, "rate limited",
                                       {"retry-after-ms": str(server.retry_after_ms)})
                if fault == "429-seconds":
                    return self._error(429, "rate limited", {"Retry-After": "1"})
                if fault in ("500", "503"):
                    return self._error(int(fault), "the model server is overloaded")
                if fault == "400":
                    return self._error(400, "input is too long")
                if fault == "garbage":
                    return self._answer(200, b"<html>maintenance</html>")
                if request.get("model") != SERVED_MODEL:
                    return self._error(404, f"model {request.get('model')!r} not found")
                time.sleep(server.slow_seconds if fault == "slow" else server.delay_seconds)
                vectors = server.embed(texts, request.get("dimensions"))
                tokens = sum(len(text.split()) for text in texts)
                body = {"object": "list", "model": SERVED_MODEL,
                        "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                                 for i, v in reversed(list(enumerate(vectors)))],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
                return self._answer(200, json.dumps(body).encode())

        return Handler
