"""OpenVINO against onnxruntime on the project's exported graphs, one thread each.

Usage: python -m benchmarks.probe_openvino --openvino-path DIR [--texts N] [--scifact FOLDER]

OpenVINO is not a dependency: install it into a scratch folder first
(`pip install --target DIR openvino`), which is put at the end of `sys.path` so it cannot
shadow the project's packages. The same batches of SciFact abstracts (up to the model's window)
go through onnxruntime fp32 (the exported query graph), OpenVINO fp32 (the same graph), the
int8 graph under onnxruntime and under OpenVINO; the script prints texts/s and the cosine of
each engine's vectors to onnxruntime fp32's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rag_pipeline.models import resolve_model
from rag_pipeline.query_graph import GRAPH, ensure_int8_graph, export_query_graph
from rag_pipeline.settings import DEFAULT_EMBEDDING_MODEL

Run = Callable[[np.ndarray, np.ndarray], np.ndarray]


def onnxruntime_run(graph: Path) -> Run:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(graph), options,
                                           providers=["CPUExecutionProvider"])
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def openvino_run(graph: Path) -> Run:
    import openvino

    compiled = openvino.Core().compile_model(str(graph), "CPU", {
        "INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    return lambda ids, mask: next(iter(request.infer(
        {"input_ids": ids, "attention_mask": mask}).values()))


def mean_pooled(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    vectors = (tokens * weights).sum(1) / weights.sum(1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openvino-path", type=Path, required=True)
    parser.add_argument("--scifact", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    sys.path.append(str(args.openvino_path))
    from tokenizers import Tokenizer

    spec = resolve_model(DEFAULT_EMBEDDING_MODEL)
    fp32 = export_query_graph(spec)
    int8_spec = resolve_model(f"{DEFAULT_EMBEDDING_MODEL}?backend=onnx-int8")
    ensure_int8_graph(int8_spec)
    if fp32 is None:
        raise SystemExit(f"{spec.name} has no ONNX graph")
    tokenizer = Tokenizer.from_file(str(spec.tokenizer_folder / "tokenizer.json"))
    tokenizer.enable_truncation(spec.max_seq_length)
    tokenizer.enable_padding()
    texts = []
    with (args.scifact / "corpus.jsonl").open() as corpus:
        for line in corpus:
            texts.append(json.loads(line)["text"])
            if len(texts) >= args.texts:
                break
    batches = []
    for start in range(0, len(texts), args.batch):
        encodings = tokenizer.encode_batch(texts[start : start + args.batch])
        batches.append((np.array([e.ids for e in encodings], dtype=np.int64),
                        np.array([e.attention_mask for e in encodings], dtype=np.int64)))
    reference = None
    for name, make, graph in (("onnxruntime fp32", onnxruntime_run, fp32 / GRAPH),
                              ("openvino fp32", openvino_run, fp32 / GRAPH),
                              ("onnxruntime int8", onnxruntime_run, int8_spec.path / GRAPH),
                              ("openvino int8 graph", openvino_run, int8_spec.path / GRAPH)):
        run = make(graph)
        run(*batches[0])  # warm-up
        started = time.perf_counter()
        vectors = np.concatenate([mean_pooled(run(ids, mask), mask) for ids, mask in batches])
        seconds = time.perf_counter() - started
        reference = vectors if reference is None else reference
        cosine = (vectors * reference).sum(1)
        sys.stdout.write(f"{name}: {len(texts) / seconds:.1f} texts/s, cosine to onnxruntime "
                         f"fp32 min {cosine.min():.5f} mean {cosine.mean():.5f}\n")


if __name__ == "__main__":
    main()
