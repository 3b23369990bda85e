"""Embedding backends: the ONNX model, and no silent truncation of over-long texts."""

from __future__ import annotations

import numpy as np

from rag_pipeline.embedding import embedder_for
from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.tokenization import tokenizer_for


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_onnx_model_ranks_a_paraphrase_above_an_unrelated_sentence() -> None:
    spec = resolve_model("paraphrase-MiniLM-L3-v2")
    vectors = embedder_for(spec).embed([
        "A man is eating food.", "Someone is having a meal.", "The stock market fell sharply.",
    ])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3


def test_onnx_model_pads_a_batch_without_changing_a_text_vector() -> None:
    embedder = embedder_for(resolve_model("paraphrase-MiniLM-L3-v2"))
    alone = embedder.embed(["Tea is grown on terraced hillsides."])[0]
    batched = embedder.embed(["Tea is grown on terraced hillsides.",
                              "A much longer sentence makes the batch pad the first one " * 3])[0]
    assert np.allclose(alone, batched, atol=1e-4)


def test_a_text_longer_than_the_window_is_embedded_whole(model_spec: EmbeddingModelSpec) -> None:
    spec = resolve_model("paraphrase-MiniLM-L3-v2")  # a 128-token window
    embedder = embedder_for(spec)
    first = "Volcanoes erupt molten rock called lava from deep inside the earth. " * 8
    second = "Sourdough bread rises thanks to wild yeast and lactic acid bacteria. " * 16
    limit = tokenizer_for(spec.tokenizer_folder, spec.max_seq_length).max_content_tokens
    long_counter = tokenizer_for(spec.tokenizer_folder, 512)
    assert long_counter.count([first])[0] <= limit < long_counter.count([second])[0]
    before = embedder.num_windowed
    whole, head = embedder.embed([first + second, first])
    assert embedder.num_windowed == before + 1
    # Truncation would keep only the volcano text; the windows' mean carries the bread too.
    bread = embedder.embed([second])[0]
    assert cosine(whole, bread) > cosine(head, bread) + 0.2
