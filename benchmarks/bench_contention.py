"""Why extraction is not overlapped with embedding on this machine: python
benchmarks/bench_contention.py

Embeds the same 640 chunk-sized texts twice: alone, then with one CPU-bound process running
beside it (a stand-in for an extraction worker). Prints both rates and their ratio.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from multiprocessing.synchronize import Event

from rag_pipeline.embedding import embedder_for
from rag_pipeline.models import resolve_model


def busy(stop: Event) -> None:
    while not stop.is_set():
        total = 0
        for i in range(200_000):
            total += i * i % 7


def main() -> int:
    embedder = embedder_for(resolve_model("all-MiniLM-L6-v2"))
    texts = [f"Sentence number {i} about proteins, cells and the immune response in mice. " * 12
             for i in range(640)]
    embedder.embed(texts[:32])
    started = time.perf_counter()
    embedder.embed(texts)
    alone = len(texts) / (time.perf_counter() - started)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    worker = context.Process(target=busy, args=(stop,))
    worker.start()
    time.sleep(1)
    started = time.perf_counter()
    embedder.embed(texts)
    beside = len(texts) / (time.perf_counter() - started)
    stop.set()
    worker.join()
    sys.stdout.write(f"embedding alone {alone:.1f} chunks/s, beside one busy process "
                     f"{beside:.1f} chunks/s: ratio {beside / alone:.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
