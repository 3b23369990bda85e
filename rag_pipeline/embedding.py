"""Embedding with sentence-transformers, imported lazily (torch costs seconds to import)."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import numpy as np

from rag_pipeline.models import EmbeddingModelSpec

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    spec: EmbeddingModelSpec

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


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


_embedders: dict[tuple[str, int, str], SentenceTransformerEmbedder] = {}
_embedders_lock = threading.Lock()


def embedder_for(spec: EmbeddingModelSpec, batch_size: int = 32,
                 device: str = "cpu") -> SentenceTransformerEmbedder:
    """One loaded model per process: repeated in-process runs do not reload it."""
    key = (spec.fingerprint, batch_size, device)
    with _embedders_lock:
        if key not in _embedders:
            _embedders[key] = SentenceTransformerEmbedder(spec, batch_size, device)
        return _embedders[key]
