"""Embedding workers against one process: python benchmarks/bench_embedding_workers.py [LEDGER]

Embeds the same chunk texts (a sample of an ingested ledger, default the project's data folder)
with the pipeline's worker processes (RAG_EMBEDDING_WORKERS, one thread each on 2 cores) and with
sentence-transformers in one process (torch's default threads), alternating, while a neighbour
process keeps a core busy 0%, 30% and 100% of the time (a search, a sensor, another tenant).
Prints chunks/s of both and their ratio per round; compare ratios within a round.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path

from rag_pipeline.embedding import embedder_for
from rag_pipeline.ledger import Ledger
from rag_pipeline.models import resolve_model
from rag_pipeline.settings import Settings


def busy_neighbour(stop: Event, duty: float) -> None:
    """Spins `duty` of every half second until stopped."""
    while not stop.is_set():
        started = time.perf_counter()
        while time.perf_counter() - started < duty * 0.5:
            pass
        time.sleep((1 - duty) * 0.5)


def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ledger", type=Path, nargs="?", default=settings.ledger_path)
    parser.add_argument("--texts", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    texts = [c.index_text for c in Ledger(args.ledger).iter_chunks()]
    random.Random(0).shuffle(texts)
    texts = sorted(texts[: args.texts], key=len, reverse=True)  # as the pipeline orders them
    spec = resolve_model(settings.embedding_model)
    pooled = embedder_for(spec, settings.embedding_batch_size, workers=settings.embedding_workers)
    single = embedder_for(spec, settings.embedding_batch_size, workers=1)
    pooled.embed(texts[:4])
    single.embed(texts[:4])
    out = sys.stdout
    out.write(f"{len(texts)} chunk texts; {settings.embedding_workers} workers against one "
              "process\n")
    context = multiprocessing.get_context("spawn")
    for round_number in range(args.rounds):
        for duty in (0.0, 0.3, 1.0):
            stop = context.Event()
            neighbour = context.Process(target=busy_neighbour, args=(stop, duty), daemon=True)
            neighbour.start()
            rates = []
            for embedder in (pooled, single):
                started = time.perf_counter()
                embedder.embed(texts)
                rates.append(len(texts) / (time.perf_counter() - started))
            stop.set()
            neighbour.join()
            out.write(f"round {round_number + 1}, neighbour busy {duty:.0%}: workers "
                      f"{rates[0]:.1f}/s, one process {rates[1]:.1f}/s, ratio "
                      f"{rates[0] / rates[1]:.2f}\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
