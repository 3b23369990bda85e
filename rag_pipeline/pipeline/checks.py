"""Quality checks over a run's batches and over the indexes, for the asset checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from rag_pipeline.bm25_store import load_cached
from rag_pipeline.ledger import INDEXED
from rag_pipeline.pipeline.lineage import CHUNKED, EMBEDDED
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.quality import (
    CheckOutcome,
    counts_match,
    duplicate_chunk_share,
    embedding_dimension,
    embeddings_finite,
    embeddings_normalized,
    every_document_chunked,
    garbled_share,
    no_empty_chunks,
    no_orphans,
    payloads_match,
    sample_payloads,
    tiny_chunk_share,
    token_recount_sample,
    within_token_limit,
)
from rag_pipeline.verified_state import as_recalled

if TYPE_CHECKING:
    from rag_pipeline.search import Mode


def chunk_batch_checks(services: PipelineServices, shards: list[str]) -> dict[str, CheckOutcome]:
    batches = [services.stages.read(CHUNKED, shard) for shard in shards]
    documents = [d for b in batches for d in b.chunked]
    chunks = [c for d in documents for c in d.chunks]
    tokenizer = services.chunker.tokenizer
    thresholds = services.settings.quality
    limit = tokenizer.max_content_tokens
    recount = token_recount_sample(chunks, limit, thresholds.token_recount_margin,
                                   thresholds.token_recount_sample)
    recounts = dict(zip(recount, tokenizer.count([chunks[i].index_text for i in recount]),
                        strict=True))
    return {
        "not_empty": no_empty_chunks(chunks),
        "within_token_limit": within_token_limit(chunks, recounts, limit),
        "tiny_share": tiny_chunk_share(chunks, thresholds),
        "duplicate_share": duplicate_chunk_share(chunks, thresholds),
        "garbled_share": garbled_share(chunks, thresholds),
        "every_document_chunked": every_document_chunked(documents),
    }


def embedding_batch_checks(services: PipelineServices,
                           shards: list[str]) -> dict[str, CheckOutcome]:
    spec = services.model
    hashes = sorted({c.content_hash for s in shards
                     for c in services.stages.read(EMBEDDED, s).chunks})
    found = services.embedding_cache.get(spec.fingerprint, hashes)
    vectors = np.stack([found[h] for h in hashes if h in found]) if found else np.zeros((0, 0))
    expected = spec.dimension or services.embedder.dimension
    return {
        "dimension": embedding_dimension(vectors, expected),
        "finite": embeddings_finite(vectors, [h for h in hashes if h in found]),
        "normalized": embeddings_normalized(vectors, spec.normalize),
    }


def verified(services: PipelineServices, name: str,
             run: Callable[[], dict[str, CheckOutcome]],
             with_bm25: bool = False) -> dict[str, CheckOutcome]:
    """`run()`'s outcomes, or the ones recorded when the indexes were last in exactly this
    state (`verified_state`; the BM25 file counts only if `run` reads it). Recorded only when
    nothing changed while they ran."""
    before = services.index_state(with_bm25)
    if before is not None:
        recalled = services.verified_states.recall(name, before)
        if recalled is not None:
            return as_recalled(*recalled)
    outcomes = run()
    if before is not None and services.index_state(with_bm25) == before:
        services.verified_states.record(name, before, outcomes)
    return outcomes


def qdrant_index_checks(services: PipelineServices) -> dict[str, CheckOutcome]:
    def run() -> dict[str, CheckOutcome]:
        with services.qdrant.holding():  # one open for all the checks, not one per call
            return _qdrant_index_checks(services)

    checks = verified(services, "qdrant_index", run)
    # From the ledger alone, and its table lists every failure: always current.
    return {**checks, "failed_documents": failed_documents(services)}


def _qdrant_index_checks(services: PipelineServices) -> dict[str, CheckOutcome]:
    qdrant, ledger = services.qdrant, services.ledger
    ledger_chunks = list(ledger.iter_chunks())
    sample = sample_payloads(ledger_chunks, services.settings.quality.payload_sample_size)
    collection = services.target_collection
    point_documents = qdrant.point_documents(collection)
    stored = qdrant.payloads(collection, [c.chunk_id for c in sample]) if point_documents else {}
    indexed = {d.document_id for d in ledger.documents().values() if d.status == INDEXED}
    return {
        "no_orphans": no_orphans(point_documents, indexed, {c.chunk_id for c in ledger_chunks}),
        "payload_matches": payloads_match(sample, stored),
    }


def failed_documents(services: PipelineServices) -> CheckOutcome:
    failed = services.ledger.failed_documents()
    table = "| document | reason |\n|---|---|\n" + "\n".join(
        f"| {d.source_path} | {(d.error or '').replace('|', '/')} |" for d in failed[:200])
    return CheckOutcome(not failed, f"{len(failed)} documents failed and are not indexed",
                        {"num_failed": len(failed), "failed_documents": table if failed else ""})


def bm25_index_checks(services: PipelineServices) -> dict[str, CheckOutcome]:
    def run() -> dict[str, CheckOutcome]:
        with services.qdrant.holding():  # one open for all the checks, not one per call
            return _bm25_index_checks(services)

    return verified(services, "bm25_index", run, with_bm25=True)


def _bm25_index_checks(services: PipelineServices) -> dict[str, CheckOutcome]:
    path = services.settings.bm25_path
    bm25_entries = len(load_cached(path)) if path.exists() else None
    return {
        "counts_match": counts_match(services.qdrant.count(services.target_collection),
                                     services.ledger.num_chunks(), bm25_entries),
        "retrieval_smoke": retrieval_smoke(services),
        "sparse_matches": sparse_matches_bm25(services),
    }


SPARSE_SAMPLE_CHUNKS = 20
"""Chunks whose opening words serve as queries, besides the golden questions."""
_TOP = 10


def sparse_matches_bm25(services: PipelineServices) -> CheckOutcome:
    """The live collection's sparse vectors rank as the rank-bm25 file does: the same top 10
    with the same scores, on the golden questions and on the opening words of sampled
    chunks. Both are built from the ledger, with the collection's k1, b and mean length."""
    from rag_pipeline.search import Searcher

    path = services.settings.bm25_path
    record = services.registry.live()
    if not path.exists() or record is None:
        return CheckOutcome(True, "skipped: nothing indexed yet", {"num_queries": 0})
    if record.bm25 is None:
        return CheckOutcome(True, f"skipped: {record.name} was built before sparse vectors",
                            {"num_queries": 0})
    settings = services.settings
    parameters = (record.bm25.k1, record.bm25.b)
    if parameters != (settings.bm25_k1, settings.bm25_b):
        return CheckOutcome(False, f"{record.name} was weighted with k1, b = {parameters}, the "
                            f"rank-bm25 index with {(settings.bm25_k1, settings.bm25_b)}: they "
                            "agree again in the next collection (a backfill)",
                            {"num_queries": 0})
    index = load_cached(path)
    queries = _sample_queries(services, index.chunk_ids)
    rank_bm25 = {q: index.search(q, _TOP) for q in queries}
    searcher = Searcher(services=services, collection=record.name)
    sparse = {q: [(h.chunk.chunk_id, h.score) for h in searcher.sparse_search(q, _TOP)]
              for q in queries}
    differing = [q for q in queries if not same_ranking(rank_bm25[q], sparse[q])]
    worst = max((abs(a[1] - b[1]) for q in queries
                 for a, b in zip(rank_bm25[q], sparse[q], strict=False)), default=0.0)
    return CheckOutcome(
        not differing,
        f"{len(queries) - len(differing)} of {len(queries)} queries rank the same top {_TOP} "
        f"in {record.name}'s sparse vectors as in rank-bm25",
        {"num_queries": len(queries), "num_differing": len(differing),
         "max_score_difference": round(worst, 6),
         "differing_queries": differing[:10]},
    )


def _sample_queries(services: PipelineServices, chunk_ids: list[str]) -> list[str]:
    golden = services.settings.golden_set
    queries = ([q["question"] for q in json.loads(golden.read_text())]
               if golden is not None and golden.exists() else [])
    step = max(1, len(chunk_ids) // SPARSE_SAMPLE_CHUNKS)
    chunks = services.ledger.get_chunks(chunk_ids[::step][:SPARSE_SAMPLE_CHUNKS])
    queries += [" ".join(c.text.split()[:6]) for c in chunks.values()]
    return [q for q in queries if q.strip()]


def same_ranking(expected: list[tuple[str, float]], got: list[tuple[str, float]],
                 tolerance: float = 1e-3) -> bool:
    """Same scores, rank by rank (relative `tolerance`: Qdrant stores 32-bit floats), and the
    same chunks at each score (chunks tied on a score may come in any order)."""
    if len(expected) != len(got):
        return False
    if not all(abs(a - b) <= tolerance * max(1.0, abs(a))
               for (_, a), (_, b) in zip(expected, got, strict=True)):
        return False
    cutoff = expected[-1][1] if expected else 0.0
    above = tolerance * max(1.0, abs(cutoff))
    # Chunks tied with the last one may differ: only one of them made the cut.
    return ({cid for cid, s in expected if s > cutoff + above}
            == {cid for cid, s in got if s > cutoff + above})


def retrieval_smoke(services: PipelineServices, collection: str | None = None,
                    mode: Mode = "hybrid") -> CheckOutcome:
    """Golden questions whose expected document is indexed must find it in the top k
    (of the live collection, or of `collection` before it is published)."""
    from rag_pipeline.search import Searcher

    settings = services.settings
    thresholds = settings.quality
    golden = settings.golden_set
    if golden is None or not golden.exists():
        return CheckOutcome(True, "no golden set configured", {"num_questions": 0})
    questions = json.loads(golden.read_text())
    indexed = {d.source_path for d in services.ledger.documents().values()
               if d.status == INDEXED}
    applicable = [q for q in questions if q["expected"] in indexed]
    if not applicable:
        return CheckOutcome(True, "skipped: no golden document is indexed in this folder",
                            {"num_questions": 0})
    searcher = Searcher(collection=collection, services=services)
    misses = []
    for question in applicable:
        hits = searcher.search(question["question"], k=thresholds.retrieval_k, mode=mode)
        if question["expected"] not in [h.chunk.source_path for h in hits]:
            misses.append({"question": question["question"], "expected": question["expected"],
                           "got": [h.chunk.source_path for h in hits[:3]]})
    recall = 1 - len(misses) / len(applicable)
    return CheckOutcome(
        recall >= thresholds.min_retrieval_recall,
        f"{mode} recall@{thresholds.retrieval_k} {recall:.2f} on {len(applicable)} golden "
        f"questions (minimum {thresholds.min_retrieval_recall:.2f})",
        {"recall": round(recall, 4), "num_questions": len(applicable),
         "k": thresholds.retrieval_k, "misses": misses},
    )
