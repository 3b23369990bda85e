"""Stages 5-6: write the shard's changes to Qdrant, commit the ledger, rebuild BM25.

Order matters for readers and for crashes: new points are written first, then each touched
document's stale points are deleted (a reader never sees a document with zero chunks), and the
ledger is committed last (a run that dies before that is simply redone, idempotently).
"""

from __future__ import annotations

import time

import numpy as np

from rag_pipeline.analysis import bm25_terms
from rag_pipeline.bm25_store import BM25Index, chunk_set_fingerprint, load_cached, rebuild_lock
from rag_pipeline.ids import all_shard_keys
from rag_pipeline.language import detect_language
from rag_pipeline.ledger import LedgerUpdate
from rag_pipeline.pipeline.batch import ShardBatch
from rag_pipeline.pipeline.lineage import QDRANT_INDEX, read_input
from rag_pipeline.pipeline.services import Log, PipelineServices
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.sparse_bm25 import BM25Parameters, mean_length, weights


def index_shards(services: PipelineServices, shards: list[str], log: Log) -> dict[str, object]:
    started = time.perf_counter()
    spec = services.model
    batches: dict[str, ShardBatch] = {s: read_input(services.stages, QDRANT_INDEX, s)
                                      for s in shards}
    qdrant, registry = services.qdrant, services.registry
    if services.target_collection not in qdrant.collections():
        # Recorded as synced in another store (the engine was switched): not in this one.
        registry.forget(services.target_collection)
    fill_scope = shards
    if qdrant.live() is None and services.ledger.num_chunks():
        # Upgrade in place: the ledger has chunks but this store has no live collection (a
        # new engine or schema), so this run fills every shard from the embedding cache.
        fill_scope = sorted(set(shards) | set(all_shard_keys()))
    fill_shards, fill = services.fill_chunks(fill_scope, list(batches.values()))
    chunks = [c for b in batches.values() for c in b.chunks] + fill
    hashes = {c.content_hash for c in chunks}
    vectors_by_hash = services.embedding_cache.get(spec.fingerprint, hashes)
    absent = hashes - set(vectors_by_hash)
    if absent:
        raise RuntimeError(
            f"{len(absent)} chunks have no vector for model {spec.name} ({spec.fingerprint}): "
            "materialize chunk_embeddings for these partitions first"
        )
    collection = services.target_collection
    if chunks:
        dimension = int(next(iter(vectors_by_hash.values())).shape[0])
        qdrant.ensure_collection(collection, dimension)
        registry.register(collection, services.settings.embedding_model, spec.fingerprint,
                          dimension)
        if qdrant.live() is None:  # the very first collection goes live at once
            qdrant.point_alias(collection)
            registry.mark_published(collection)
        terms = [bm25_terms(c.index_text, c.language) for c in chunks]
        settings = services.settings
        bm25 = registry.fix_bm25(collection, BM25Parameters(
            settings.bm25_k1, settings.bm25_b, mean_length(terms)))
        qdrant.upsert(
            collection,
            [c.chunk_id for c in chunks],
            np.stack([vectors_by_hash[c.content_hash] for c in chunks]),
            [c.payload() for c in chunks],
            sparse=[weights(t, bm25) for t in terms],
        )
    keep: dict[str, set[str]] = {}
    update = LedgerUpdate(processing=processing_fingerprint(services.settings))
    for batch in batches.values():
        for chunked in batch.chunked:
            keep[chunked.document.source.document_id] = {c.chunk_id for c in chunked.chunks}
            update.indexed.append((chunked.document, chunked.chunks))
        for duplicate in batch.duplicates:
            keep[duplicate.source.document_id] = set()
            update.duplicates.append(duplicate)
        for failure in batch.failures:
            keep[failure.source.document_id] = set()
            update.failed.append(failure)
        for document_id in batch.deleted:
            keep[document_id] = set()
            update.deleted.append(document_id)
        update.touched.extend(batch.touched)
    qdrant.delete_stale(collection, keep)
    services.ledger.apply(update)
    generation = services.ledger.generation()
    if fill_shards:
        # Points of documents deleted while this collection was not the target.
        qdrant.delete_shard_leftovers(collection,
                                      services.ledger.chunk_ids_by_shard(fill_shards))
    registry.mark_synced(collection, sorted(set(shards) | set(fill_shards)), generation)
    num_points = qdrant.count(collection)
    seconds = time.perf_counter() - started
    log.info(f"Qdrant {collection}: upserted {len(chunks)} points ({len(fill)} to fill "
             f"{len(fill_shards)} shards), {num_points} in collection")
    return {
        "num_points_upserted": len(chunks),
        "num_points_filled": len(fill),
        "num_shards_filled": len(fill_shards),
        "num_documents_indexed": len(update.indexed),
        "num_documents_removed": len(update.deleted),
        "num_documents_failed": len(update.failed),
        "qdrant_collection": collection,
        "qdrant_live_collection": qdrant.live() or "",
        "qdrant_location": qdrant.describe(),
        "qdrant_points": int(num_points or 0),
        "ledger_chunks": services.ledger.num_chunks(),
        "index_seconds": round(seconds, 3),
        "points_per_second": round(len(chunks) / seconds, 1) if seconds else 0.0,
        "failed_documents": [
            {"path": f.source.relative_path, "error": f.error}
            for b in batches.values() for f in b.failures
        ],
    }


def rebuild_bm25(services: PipelineServices, log: Log) -> dict[str, object]:
    """One rebuild per run, from the ledger; skipped when the chunk set did not change."""
    started = time.perf_counter()
    path = services.settings.bm25_path
    with rebuild_lock(path):
        _detect_missing_languages(services, log)
        ledger_ids = services.ledger.chunk_id_list()
        fingerprint = chunk_set_fingerprint(ledger_ids)
        avgdl = live_avgdl(services)
        current: BM25Index | None = None
        if path.exists():
            try:
                current = load_cached(path)  # a no-op run's checks and searches reuse it
            except Exception as exc:  # unreadable or old format: rebuild it
                log.warning(f"BM25 index unreadable ({exc}); rebuilding")
                current = None
            settings = services.settings
            if (current is not None and current.fingerprint == fingerprint
                    and (current.k1, current.b) == (settings.bm25_k1, settings.bm25_b)
                    and (avgdl is None or current.avgdl == avgdl)):
                return _bm25_metadata(current, rebuilt=False,
                                      seconds=time.perf_counter() - started)
        index = BM25Index.build(services.ledger.index_texts(), k1=services.settings.bm25_k1,
                                b=services.settings.bm25_b, previous=current, avgdl=avgdl)
        index.save(path)
        path.with_name("index.pkl").unlink(missing_ok=True)  # a pickle of an older release
    log.info(f"BM25 index rebuilt: {len(index)} chunks, {len(index.postings)} terms")
    return _bm25_metadata(index, rebuilt=True, seconds=time.perf_counter() - started)


def live_avgdl(services: PipelineServices) -> float | None:
    """The mean chunk length the live collection's sparse vectors were weighted with, so the
    rank-bm25 index scores as they do (None: none recorded, the corpus' own mean)."""
    record = services.registry.live()
    return record.bm25.avgdl if record is not None and record.bm25 is not None else None


def _detect_missing_languages(services: PipelineServices, log: Log) -> None:
    """Upgrade in place: documents indexed before languages were detected get theirs from
    their chunks' text, once (nothing is extracted or embedded again)."""
    texts = services.ledger.texts_without_language()
    if texts:
        languages = {doc_id: detect_language(text) for doc_id, text in texts.items()}
        services.ledger.set_languages(languages)
        log.info(f"languages detected for {len(languages)} documents indexed before detection")


def _bm25_metadata(index: BM25Index, *, rebuilt: bool, seconds: float) -> dict[str, object]:
    return {
        "bm25_chunks": len(index),
        "bm25_terms": len(index.postings),
        "bm25_languages": ", ".join(sorted(str(lang) for lang in index.language_counts)),
        "bm25_fingerprint": index.fingerprint,
        "rebuilt": rebuilt,
        "bm25_seconds": round(seconds, 3),
    }
