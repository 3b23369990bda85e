"""Embedding backends: the ONNX model, and no silent truncation of over-long texts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag_pipeline import embedding
from rag_pipeline.embedding import embedder_for, resolve_device
from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.tokenization import tokenizer_for
from tests.host_speed import budget


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


def _nvidia_driver() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or bool(shutil.which("nvidia-smi"))


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(_nvidia_driver() or sys.platform == "darwin",
                    reason="a GPU may be present: auto has to ask torch")
def test_auto_device_is_the_cpu_without_a_gpu_driver_and_without_importing_torch() -> None:
    code = ("import sys; from rag_pipeline.embedding import resolve_device; "
            "print(resolve_device('auto'), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=budget(120), check=True).stdout.split()
    assert out == ["cpu", "False"]


@pytest.mark.parametrize(("name", "device"), [("cpu", "cpu"), ("CUDA:1", "cuda:1"),
                                              ("mps", "mps")])
def test_a_named_device_is_taken_as_it_is(name: str, device: str) -> None:
    assert resolve_device(name) == device


def test_an_unknown_device_fails_clearly() -> None:
    with pytest.raises(ValueError, match="RAG_EMBEDDING_DEVICE must be one of"):
        resolve_device("tpu")


def test_auto_picks_cuda_when_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(embedding.Path, "exists", lambda self: True)  # an NVIDIA driver
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert embedding.resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(embedding.sys, "platform", "linux")
    assert embedding.resolve_device("auto") in {"cpu", "mps"}


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (none on this machine)")
def test_the_model_embeds_on_the_gpu_in_fp16_like_on_the_cpu(model_spec) -> None:
    from rag_pipeline.embedding import SentenceTransformerEmbedder

    texts = ["Seismometers detect magma rising beneath the summit.", "Sourdough starter."]
    gpu = SentenceTransformerEmbedder(model_spec, 128, device="cuda")
    on_gpu = gpu.embed(texts)
    on_cpu = SentenceTransformerEmbedder(model_spec, 32, device="cpu").embed(texts)
    assert next(gpu._load().parameters()).dtype.__str__() == "torch.float16"
    cosine = (on_gpu * on_cpu).sum(axis=1)
    assert (cosine > 0.999).all(), cosine


def test_the_int8_backend_is_another_model_whose_graph_is_built_once(
        model_spec: EmbeddingModelSpec) -> None:
    from rag_pipeline.query_graph import GRAPH, ensure_int8_graph

    int8 = resolve_model("all-MiniLM-L6-v2?backend=onnx-int8")
    assert int8.backend == "onnx" and int8.fingerprint != model_spec.fingerprint
    assert resolve_model("all-MiniLM-L6-v2?backend=torch") == model_spec
    with pytest.raises(ValueError, match="backend= one of torch, onnx-int8"):
        resolve_model("all-MiniLM-L6-v2?backend=fp4")

    texts = ["Reusable boosters land vertically on a drone ship.",
             "The committee approved the annual budget.", "x"]
    quantized = embedder_for(int8).embed(texts)  # exports and quantizes: no graph yet
    built = (int8.path / GRAPH).stat().st_mtime_ns
    full = embedder_for(model_spec).embed(texts)
    cosine = (quantized * full).sum(axis=1) / (
        np.linalg.norm(quantized, axis=1) * np.linalg.norm(full, axis=1))
    assert cosine.min() > 0.95 and cosine.max() < 0.99999  # close, and really quantized
    ensure_int8_graph(int8)
    assert (int8.path / GRAPH).stat().st_mtime_ns == built
