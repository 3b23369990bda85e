"""Stage 4: embed the chunks whose content this model has never embedded; reuse the rest."""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import replace

from rag_pipeline.drift import check_drift, nothing_embedded
from rag_pipeline.embedding import PartialEmbeddingError, embed_in_slices, resolve_device
from rag_pipeline.pipeline.batch import ShardBatch
from rag_pipeline.pipeline.lineage import EMBEDDED, read_input
from rag_pipeline.pipeline.services import Log, PipelineServices
from rag_pipeline.quality import CheckOutcome

_PROGRESS_SLICE = 256
"""Texts per encode call: progress is logged and vectors are cached after each slice, so a run
killed mid-embedding keeps what it already paid for."""


def embed_shards(services: PipelineServices, shards: list[str],
                 log: Log) -> tuple[dict[str, object], CheckOutcome]:
    """The stage's metadata, and the drift canary's outcome (`rag_pipeline.drift`): when the
    model's vectors moved, nothing is embedded or cached and the blocking check fails."""
    started = time.perf_counter()
    spec = services.model
    batches: dict[str, ShardBatch] = {s: read_input(services.stages, EMBEDDED, s) for s in shards}
    texts_by_hash: dict[str, str] = {}
    for batch in batches.values():
        for chunk in batch.chunks:
            texts_by_hash.setdefault(chunk.content_hash, chunk.index_text)
    # Shards the target collection lags behind (a new model, or a collection that was not live
    # for a while): their unchanged chunks need this model's vectors too.
    fill_shards, fill = services.fill_chunks(shards, list(batches.values()))
    for chunk in fill:
        texts_by_hash.setdefault(chunk.content_hash, chunk.index_text)
    missing = sorted(services.embedding_cache.missing(spec.fingerprint, texts_by_hash))
    # Longest first: similar lengths share a batch (less padding), and the ETA errs high.
    missing.sort(key=lambda h: len(texts_by_hash[h]), reverse=True)
    drift = nothing_embedded(spec.name)
    # A remote endpoint's counters before the probes and chunks: the run reports its share
    # (zeros when it embeds nothing, so the UI's plots have a point for every run).
    usage_before = usage_counts(services.embedder) if spec.backend == "openai" else {}
    if missing:
        # The probes alone would start one worker, the chunks more.
        services.prepare_embedder(len(missing))
        drift = check_drift(services.embedder.embed, services.embedding_cache, spec.fingerprint,
                            spec.name, services.settings.quality.min_probe_cosine)
        if not drift.passed:
            log.error(drift.description)
            missing = []  # not one vector of the moved model reaches the cache
    embed_seconds = 0.0
    t0 = time.perf_counter()
    size = getattr(services.embedder, "progress_slice", None) or _PROGRESS_SLICE
    # The next slice is already being embedded while this one is cached and reported.
    awaited = 0  # where the slice being waited for starts
    with closing(embed_in_slices(services.embedder, [texts_by_hash[h] for h in missing],
                                 size)) as slices:
        try:
            for start, vectors in zip(range(0, len(missing), size), slices, strict=True):
                part = missing[start : start + size]
                services.embedding_cache.put(spec.fingerprint,
                                             dict(zip(part, vectors, strict=True)))
                awaited = start + size
                embed_seconds = time.perf_counter() - t0
                done = start + len(part)
                rate = done / embed_seconds if embed_seconds else 0.0
                eta = (len(missing) - done) / rate if rate else 0.0
                log.info(f"embedded {done:,}/{len(missing):,} chunks, {rate:.0f}/s, "
                         f"eta {eta / 60:.0f}m")
        except PartialEmbeddingError as exc:  # the failed slice's vectors that did come back
            services.embedding_cache.put(spec.fingerprint, {
                missing[awaited + position]: vector
                for position, vector in exc.received.items()})
            log.warning(f"embedding failed after {awaited + len(exc.received):,} of "
                        f"{len(missing):,} chunks; their vectors are cached for the rerun")
            raise
    for shard, batch in batches.items():
        services.stages.write(EMBEDDED, shard,
                              replace(batch, embedding_fingerprint=spec.fingerprint))
    seconds = time.perf_counter() - started
    usage = {f"endpoint_{name}": round(value - usage_before.get(name, 0), 3)
             for name, value in (usage_counts(services.embedder) if usage_before
                                 else {}).items()}
    return {
        "num_chunks": len(texts_by_hash),
        "num_chunks_embedded": len(missing),
        "num_chunks_reused": len(texts_by_hash) - len(missing),
        "num_shards_filled": len(fill_shards),
        "num_chunks_filled": len(fill),
        "target_collection": services.target_collection,
        "embedding_model": spec.name,
        "embedding_fingerprint": spec.fingerprint,
        "embedding_backend": spec.backend,
        "embedding_device": embedding_device(spec.backend, services.settings.embedding_device),
        "embed_seconds": round(embed_seconds, 3),
        "stage_seconds": round(seconds, 3),
        "chunks_per_second": round(len(missing) / embed_seconds, 1) if embed_seconds else 0.0,
        "drift_probe_baseline": str(drift.metadata["probe_baseline"]),
        **usage,
    }, drift


def usage_counts(embedder: object) -> dict[str, float]:
    """A remote backend's counters (requests, retries, throttled seconds, tokens), else none."""
    counts = getattr(embedder, "usage_counts", None)
    return counts() if counts is not None else {}


def embedding_device(backend: str, configured: str) -> str:
    if backend == "openai":
        return "remote"
    return "cpu" if backend == "onnx" else resolve_device(configured)
