"""Queries embedded without torch: the model's transformer exported once to ONNX.

A search process that imports torch, transformers and sentence-transformers spends most of its
first answer on those imports; onnxruntime and tokenizers load in a fraction of that. So the
run that publishes a collection exports the model's transformer to ONNX, once per machine and
model fingerprint, into the model cache (`RAG_MODEL_CACHE_DIR`, default ~/.cache/rag-pipeline:
a derived copy of the model, shared by every data folder), checked against the torch model's
own vectors before it is put in place; searches embed their queries with it (`OnnxEmbedder`:
same tokenizer, mean pooling, normalisation). Models whose sentence-transformers pipeline is
more than transformer + mean pooling (+ normalisation) are not exported: their queries keep
using torch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag_pipeline.models import EmbeddingModelSpec

logger = logging.getLogger(__name__)

GRAPH = "model.onnx"
MIN_COSINE = 0.99999
"""How close the exported graph's vectors must be to torch's on the probe texts."""
PROBES = ["how many days of holiday do I get",
          "Reusable boosters land vertically on a drone ship after separating from the "
          "second stage.",
          "x"]


def model_cache_dir() -> Path:
    configured = os.environ.get("RAG_MODEL_CACHE_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME", "").strip() or "~/.cache"
    return Path(cache_home).expanduser() / "rag-pipeline"


def graph_folder(spec: EmbeddingModelSpec) -> Path:
    return model_cache_dir() / "query-models" / f"{spec.slug}-{spec.fingerprint}"


def query_spec(spec: EmbeddingModelSpec) -> EmbeddingModelSpec | None:
    """The ONNX twin of `spec` (same name and fingerprint), if it was exported."""
    folder = graph_folder(spec)
    if spec.backend != "sentence-transformers" or not (folder / GRAPH).exists():
        return None
    return replace(spec, path=folder, backend="onnx", tokenizer_path=spec.tokenizer_folder)


def exportable(spec: EmbeddingModelSpec) -> bool:
    """Transformer, mean pooling and at most a normalisation: what `OnnxEmbedder` computes."""
    if spec.backend != "sentence-transformers":
        return False
    modules_path = spec.path / "modules.json"
    pooling_path = spec.path / "1_Pooling" / "config.json"
    if not modules_path.exists() or not pooling_path.exists():
        return False
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in json.loads(
        modules_path.read_text())]
    pooling = json.loads(pooling_path.read_text())
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True}
    return kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) and (
        modes == {"pooling_mode_mean_tokens"})


def _export(torch, module, sample, axes: dict, path: Path) -> None:  # noqa: ANN001
    torch.onnx.export(module.eval(), (sample, sample), str(path), dynamo=False,
                      input_names=["input_ids", "attention_mask"],
                      output_names=["token_embeddings"], opset_version=17,
                      dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                    "token_embeddings": axes})


def ensure_int8_graph(spec: EmbeddingModelSpec) -> None:
    """Build `spec`'s int8 graph (`models._int8_spec`) unless it is there: the exported fp32
    graph, quantized by onnxruntime (dynamic int8 weights, per channel, reduced range for CPUs
    without VNNI), put in place atomically. Needs torch once, for the export."""
    if spec.quantized_from is None or (spec.path / GRAPH).exists():
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rag_pipeline.models import resolve_model

    source = export_query_graph(resolve_model(spec.quantized_from))
    if source is None:
        raise ValueError(f"{spec.quantized_from} cannot be exported to ONNX, so it has no int8 "
                         "backend (a model of transformer + mean pooling can)")
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".int8-", dir=spec.path.parent))
    try:
        quantize_dynamic(source / GRAPH, scratch / GRAPH, weight_type=QuantType.QInt8,
                         per_channel=True, reduce_range=True)
        try:
            os.replace(scratch, spec.path)
        except OSError:  # another run put it in place meanwhile
            if not (spec.path / GRAPH).exists():
                raise
        logger.info("quantized %s to int8 in %s", spec.name, spec.path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def export_query_graph(spec: EmbeddingModelSpec) -> Path | None:
    """Export the transformer unless done already; returns the graph's folder (None: the model
    cannot be exported, or the graph's vectors differ from torch's: queries stay on torch)."""
    folder = graph_folder(spec)
    if (folder / GRAPH).exists():
        return folder
    if not exportable(spec):
        return None
    import torch
    from sentence_transformers import SentenceTransformer

    from rag_pipeline.onnx_embedding import OnnxEmbedder

    model = SentenceTransformer(str(spec.path), device="cpu", local_files_only=True)
    model.max_seq_length = spec.max_seq_length
    transformer = model[0].auto_model.eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor,
                    attention_mask: torch.Tensor) -> torch.Tensor:
            return self.transformer(input_ids=input_ids,
                                    attention_mask=attention_mask).last_hidden_state

    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        sample = torch.ones((1, 8), dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        with warnings.catch_warnings():  # the tracer's notes on the model's Python branches
            warnings.simplefilter("ignore")
            _export(torch, TokenEmbeddings(), sample, axes, scratch / GRAPH)
        exported = OnnxEmbedder(replace(spec, path=scratch, backend="onnx",
                                        tokenizer_path=spec.tokenizer_folder)).embed(PROBES)
        reference = np.asarray(model.encode(PROBES, convert_to_numpy=True), dtype=np.float32)
        cosine = (exported * reference).sum(axis=1) / (
            np.linalg.norm(exported, axis=1) * np.linalg.norm(reference, axis=1))
        if float(cosine.min()) < MIN_COSINE:
            logger.warning("ONNX export of %s differs from torch (cosine %.6f): queries stay "
                           "on torch", spec.name, float(cosine.min()))
            return None
        try:
            os.replace(scratch, folder)  # atomic: a reader sees no graph or the whole one
        except OSError:  # another run put it in place meanwhile
            if not (folder / GRAPH).exists():
                raise
        logger.info("exported the query graph of %s to %s", spec.name, folder)
        return folder
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
