"""Embedding with onnxruntime for models shipped as a bare .onnx file (mean pooling)."""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

from rag_pipeline.models import EmbeddingModelSpec

logger = logging.getLogger(__name__)


class OnnxEmbedder:
    """A sentence-transformers style encoder (tokenize, transformer, mean pooling) on onnxruntime.

    The graph's inputs are `input_ids` and `attention_mask`; its token embeddings are the 3-D
    float output, pooled here over the attention mask, so no particular output name is assumed.
    """

    def __init__(self, spec: EmbeddingModelSpec, batch_size: int = 32,
                 threads: int | None = None) -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            weights = sorted(self.spec.path.glob("*.onnx"))
            if not weights:
                raise ValueError(f"no .onnx file in {self.spec.path}")
            logger.info("loading embedding model %s from %s", self.spec.name, weights[0])
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            session = onnxruntime.InferenceSession(
                str(weights[0]), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(self.spec.tokenizer_folder / "tokenizer.json"))
            tokenizer.enable_truncation(self.spec.max_seq_length)
            tokenizer.enable_padding()
            self._token_output = next(
                o.name for o in session.get_outputs()
                if o.type == "tensor(float)" and len(o.shape) == 3)
            self._tokenizer, self._session = tokenizer, session

    @property
    def dimension(self) -> int:
        if self.spec.dimension:
            return self.spec.dimension
        return int(self.embed(["dimension probe"]).shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._load()
        assert self._session is not None and self._tokenizer is not None
        out = []
        for start in range(0, len(texts), self.batch_size):
            encodings = self._tokenizer.encode_batch(texts[start : start + self.batch_size])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            (tokens,) = self._session.run([self._token_output],
                                          {"input_ids": ids, "attention_mask": mask})
            weights = mask[..., None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out.append(pooled)
        vectors = np.concatenate(out).astype(np.float32)
        if self.spec.normalize:
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors
