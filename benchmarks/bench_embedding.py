"""Embedding backends side by side: chunks/s, peak memory and SciFact nDCG@10 per backend.

Usage: python -m benchmarks.bench_embedding --chunks 2000 [--texts FOLDER] [--scifact DIR]
       [--json OUT.json]

Every backend embeds the same texts the way the pipeline runs it (`embedder_for`, with
RAG_EMBEDDING_WORKERS processes for local models), each in a fresh process so that peak
memory (the process tree's RSS, sampled) and warm-up are its own:

- torch-fp32: sentence-transformers on torch, the configured default;
- onnx-fp32: the same all-MiniLM-L6-v2 exported to ONNX (the query graph, `query_graph`);
- onnx-int8: that graph with onnxruntime's dynamic int8 quantization;
- openvino / torch-bf16 / cuda: measured where installed or where the CPU or GPU has them,
  else listed with the reason;
- remote-c1 / remote-c4: an OpenAI-compatible endpoint (`tests/openai_server.py`, serving
  paraphrase-MiniLM-L3-v2 on 127.0.0.1) at concurrency 1 and 4: the cost of the HTTP path.

Texts come from the .txt/.md files of FOLDER, chunked as the pipeline chunks them, or are
generated. With --scifact, each local backend is also scored on BEIR SciFact (title + abstract,
cut at the model's window; dense: exact cosine; hybrid: RRF of dense and this project's BM25).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil

from rag_pipeline.embedding import embedder_for
from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.query_graph import export_query_graph, graph_folder
from rag_pipeline.settings import DEFAULT_EMBEDDING_MODEL, EmbeddingEndpoint, Settings
from rag_pipeline.tokenization import tokenizer_for

LOCAL = ("torch-fp32", "onnx-fp32", "onnx-int8", "openvino-fp32", "torch-bf16", "cuda-fp16")
REMOTE = ("remote-c1", "remote-c4")
INT8_GRAPH = "model_int8.onnx"
WORDS = ("cell protein gene tumour patient dose trial cohort risk model sample signal network "
         "policy market budget court school river climate energy engine orbit voltage").split()


def generated_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 180))) + "."
            for _ in range(count)]


def folder_texts(folder: Path, count: int, tokens: int = 200) -> list[str]:
    """Pieces of `tokens` tokens of the folder's text files (the pipeline's chunk size)."""
    spec = resolve_model(DEFAULT_EMBEDDING_MODEL)
    tokenizer = tokenizer_for(spec.tokenizer_folder, spec.max_seq_length)
    texts: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in (".txt", ".md") and path.is_file():
            text = path.read_text(errors="replace")
            offsets = tokenizer.offsets(text)
            texts += [text[offsets[i][0] : offsets[min(i + tokens, len(offsets)) - 1][1]]
                      for i in range(0, len(offsets), tokens)]
        if len(texts) >= count:
            break
    return texts[:count]


def unavailable_reason(backend: str) -> str | None:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if backend == "openvino-fp32":
        try:
            import openvino  # noqa: F401
        except ImportError:
            return "openvino is not installed (optimum-intel and openvino are not dependencies)"
    if backend == "torch-bf16" and not any(f in flags for f in ("avx512_bf16", "amx_bf16")):
        return "this CPU has neither AVX-512 BF16 nor AMX: bf16 would be emulated"
    if backend == "cuda-fp16" and not (Path("/proc/driver/nvidia/version").exists()):
        return "no NVIDIA GPU on this machine"
    return None


def int8_spec(spec: EmbeddingModelSpec) -> EmbeddingModelSpec:
    """The exported graph, quantized once (dynamic int8 weights) beside it in the model cache."""
    onnx = onnx_spec(spec)
    int8_folder = graph_folder(spec).with_name(graph_folder(spec).name + "-int8")
    if not (int8_folder / "model.onnx").exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_folder.mkdir(parents=True, exist_ok=True)
        quantize_dynamic(onnx.path / "model.onnx", int8_folder / "model.onnx",
                         weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    return replace(onnx, path=int8_folder, fingerprint=onnx.fingerprint + "-int8")


def onnx_spec(spec: EmbeddingModelSpec) -> EmbeddingModelSpec:
    folder = export_query_graph(spec)
    if folder is None:
        raise RuntimeError(f"{spec.name} cannot be exported to ONNX")
    return replace(spec, path=folder, backend="onnx", tokenizer_path=spec.tokenizer_folder,
                   fingerprint=spec.fingerprint + "-onnx")


class PeakMemory:
    """The highest RSS of this process and its children (the embedding workers), sampled."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.1):
            try:
                tree = [me, *me.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                continue

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def scifact_scores(embed, dataset_dir: Path, max_tokens: int) -> dict[str, float]:  # noqa: ANN001
    from rag_pipeline.bm25_store import BM25Index
    from rag_pipeline.embedding import WindowingEmbedder
    from rag_pipeline.evaluation.beir import load_beir
    from rag_pipeline.evaluation.metrics import ndcg_at_k
    from rag_pipeline.search import reciprocal_rank_fusion

    dataset = load_beir(dataset_dir, "test")
    ids = list(dataset.corpus)
    tokenizer = tokenizer_for(resolve_model(DEFAULT_EMBEDDING_MODEL).tokenizer_folder,
                              max_tokens)
    texts = []
    for title, text in dataset.corpus.values():  # cut at the window, as MTEB does
        whole = f"{title} {text}".strip()
        offsets = tokenizer.offsets(whole)
        limit = tokenizer.max_content_tokens
        texts.append(whole[: offsets[limit - 1][1]] if len(offsets) > limit else whole)
    backend = embed.backend if isinstance(embed, WindowingEmbedder) else embed
    vectors = backend.embed(texts)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query_ids = list(dataset.queries)
    queries = backend.embed([dataset.queries[q] for q in query_ids])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores = queries @ vectors.T
    bm25 = BM25Index.build(zip(ids, [f"{t} {x}".strip() for t, x in dataset.corpus.values()],
                               strict=True))
    dense, hybrid = [], []
    for row, qid in enumerate(query_ids):
        dense_ids = [ids[i] for i in np.argsort(-scores[row])[:100]]
        dense.append(ndcg_at_k(dense_ids[:10], dataset.qrels[qid], 10))
        keyword_ids = [d for d, _ in bm25.search(dataset.queries[qid], 100)]
        fused = [d for d, _ in reciprocal_rank_fusion([dense_ids, keyword_ids])]
        hybrid.append(ndcg_at_k(fused[:10], dataset.qrels[qid], 10))
    return {"scifact_dense_ndcg@10": round(float(np.mean(dense)), 4),
            "scifact_hybrid_ndcg@10": round(float(np.mean(hybrid)), 4)}


def measure_local(backend: str, texts: list[str], workers: int, batch_size: int,
                  scifact: Path | None) -> dict[str, object]:
    spec = resolve_model(DEFAULT_EMBEDDING_MODEL)
    if backend == "onnx-fp32":
        spec = onnx_spec(spec)
    elif backend == "onnx-int8":
        spec = int8_spec(spec)
    device = "cuda" if backend == "cuda-fp16" else "cpu"
    with PeakMemory() as memory:
        embedder = embedder_for(spec, batch_size, device=device, workers=workers)
        if backend == "torch-bf16":
            import torch

            embedder.backend._load().to(torch.bfloat16)  # type: ignore[attr-defined]
        started = time.perf_counter()
        embedder.embed(texts[:64])  # model load and worker start-up
        warm_up = time.perf_counter() - started
        started = time.perf_counter()
        vectors = embedder.embed(texts)
        seconds = time.perf_counter() - started
    reference = os.environ.get("BENCH_REFERENCE_VECTORS")
    row: dict[str, object] = {
        "backend": backend, "model": spec.name, "device": device, "workers": workers,
        "chunks": len(texts), "seconds": round(seconds, 2),
        "chunks_per_s": round(len(texts) / seconds, 1), "warm_up_seconds": round(warm_up, 2),
        "peak_rss_mb": round(memory.peak / 2**20)}
    if reference and Path(reference).exists():
        fp32 = np.load(reference)
        cosine = (fp32 * vectors).sum(axis=1) / (np.linalg.norm(fp32, axis=1)
                                                 * np.linalg.norm(vectors, axis=1))
        row["min_cosine_to_torch_fp32"] = round(float(cosine.min()), 5)
        row["mean_cosine_to_torch_fp32"] = round(float(cosine.mean()), 5)
    elif reference:
        np.save(reference, vectors)
    if scifact is not None:
        row.update(scifact_scores(embedder, scifact, spec.max_seq_length))
    return row


def measure_remote(backend: str, texts: list[str], batch_size: int) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from rag_pipeline.remote_embedding import OpenAIEndpointEmbedder
    from tests.openai_server import SERVED_MODEL, EmbeddingServer

    concurrency = int(backend.removeprefix("remote-c"))
    with EmbeddingServer() as server, PeakMemory() as memory:
        spec = resolve_model(f"openai:{SERVED_MODEL}?max_tokens=128")
        embedder = OpenAIEndpointEmbedder(spec, EmbeddingEndpoint(url=server.url,
                                                                  concurrency=concurrency),
                                          batch_size)
        embedder.embed(texts[:64])
        before = embedder.usage_counts()["requests"]
        started = time.perf_counter()
        embedder.embed(texts)
        seconds = time.perf_counter() - started
        requests = embedder.usage_counts()["requests"] - before
        embedder.close()
    return {"backend": backend, "model": SERVED_MODEL, "device": "remote (127.0.0.1)",
            "concurrency": concurrency, "chunks": len(texts), "seconds": round(seconds, 2),
            "chunks_per_s": round(len(texts) / seconds, 1), "requests": requests,
            "peak_rss_mb": round(memory.peak / 2**20),
            "note": "server and client share this machine's 2 cores; the served model is "
                    "paraphrase-MiniLM-L3-v2 on onnxruntime"}


def run_one(args: argparse.Namespace, texts: list[str]) -> dict[str, object]:
    reason = unavailable_reason(args.one)
    if reason:
        return {"backend": args.one, "available": False, "reason": reason}
    if args.one in REMOTE:
        return measure_remote(args.one, texts, args.batch_size)
    return measure_local(args.one, texts, args.workers, args.batch_size, args.scifact)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--texts", type=Path, help="a folder of .txt/.md documents")
    parser.add_argument("--scifact", type=Path, help="BEIR SciFact folder: nDCG@10 per backend")
    parser.add_argument("--backends", default=",".join(LOCAL + REMOTE))
    settings = Settings.from_env()
    parser.add_argument("--workers", type=int, default=settings.embedding_workers)
    parser.add_argument("--batch-size", type=int, default=settings.embedding_batch_size)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--texts-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        texts = json.loads(args.texts_file.read_text())
        sys.stdout.write(json.dumps(run_one(args, texts)) + "\n")
        return 0

    texts = folder_texts(args.texts, args.chunks) if args.texts else generated_texts(args.chunks)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-embedding-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "texts.json").write_text(json.dumps(texts))
    env = {**os.environ, "BENCH_REFERENCE_VECTORS": str(work / "torch-fp32.npy")}
    rows = []
    for backend in args.backends.split(","):
        command = [sys.executable, "-m", "benchmarks.bench_embedding", "--one", backend,
                   "--texts-file", str(work / "texts.json"), "--workers", str(args.workers),
                   "--batch-size", str(args.batch_size)]
        if args.scifact and backend not in REMOTE:
            command += ["--scifact", str(args.scifact)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            row = {"backend": backend, "available": False,
                   "reason": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
        else:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        row["default"] = backend == "torch-fp32"
        rows.append(row)
        sys.stderr.write(json.dumps(row) + "\n")
    base = next((r for r in rows if r["backend"] == "torch-fp32" and "chunks_per_s" in r), None)
    for row in rows:
        if base and "chunks_per_s" in row:
            row["speed_vs_torch_fp32"] = round(row["chunks_per_s"] / base["chunks_per_s"], 2)
    summary = {"machine": f"{platform.processor() or platform.machine()}, "
               f"{os.cpu_count()} cores", "chunks": len(texts),
               "texts": str(args.texts) if args.texts else "generated"}
    for row in rows:
        row.update(summary)
    sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
