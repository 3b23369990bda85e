"""Stages 1-2: list and diff the shard against the ledger, extract the changed files, clean them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

from rag_pipeline.changes import diff_against_ledger
from rag_pipeline.cleaning import clean_document
from rag_pipeline.extract.isolation import ExtractionLimits, extract_isolated
from rag_pipeline.extract.pdf import OcrOptions
from rag_pipeline.pipeline.batch import ShardBatch
from rag_pipeline.pipeline.lineage import CLEANED, EXTRACTED, read_input
from rag_pipeline.pipeline.services import Log, PipelineServices
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.records import DocumentFailure, ExtractedDocument
from rag_pipeline.sources import list_documents
from rag_pipeline.watch import MassDeletionError, mass_deletion_reason


def extract_shards(services: PipelineServices, shards: list[str], log: Log) -> dict[str, object]:
    started = time.perf_counter()
    settings = services.settings
    document_source = services.source
    files = list_documents(document_source, shards, settings)
    by_shard: dict[str, list] = {shard: [] for shard in shards}
    for source in files:
        by_shard[source.shard].append(source)
    known = services.ledger.documents(shards)
    seen = {f.document_id for f in files}
    num_deleted = sum(1 for doc_id in known if doc_id not in seen)
    reason = mass_deletion_reason(num_deleted, len(known), settings)
    if reason:
        raise MassDeletionError(reason)
    limits = ExtractionLimits(
        timeout_seconds=settings.extract_timeout_seconds, memory_mb=settings.extract_memory_mb,
        max_file_mb=settings.max_file_mb, max_pages=settings.max_pages,
        workers=settings.extract_workers,
        ocr=OcrOptions(settings.ocr_language, settings.ocr_max_pages))
    totals: Counter[str] = Counter()
    failure_reasons: Counter[str] = Counter()
    try:
        changes_by_shard = {
            shard: diff_against_ledger(by_shard[shard],
                                       {k: v for k, v in known.items() if v.shard == shard},
                                       processing_fingerprint(settings),
                                       fetch=document_source.fetch,
                                       describe=document_source.read_metadata)
            for shard in shards
        }
        # All shards' files in one batch: the workers never wait at a shard boundary.
        pending = [p for changes in changes_by_shard.values() for p in changes.pending]
        if pending:  # an estimate of their chunks, on the high side (a kilobyte of file each)
            services.start_embedding_workers(
                len(pending) + sum(p.source.size for p in pending) // 1000)
        results = {r.source.document_id: r for r in extract_isolated(pending, limits)}
    finally:
        document_source.discard_copies()  # an object store's downloads, extracted or not
    for shard in shards:
        changes = changes_by_shard[shard]
        extracted: list[ExtractedDocument] = []
        failures: list[DocumentFailure] = []
        for item in changes.pending:
            result = results[item.source.document_id]
            if isinstance(result, DocumentFailure):
                failures.append(result)
                failure_reasons[result.error.split(":")[0]] += 1
                log.warning(f"failed to extract {result.source.relative_path}: {result.error}")
            else:
                extracted.append(result)
                totals["num_pages"] += result.num_pages or 0
        services.stages.write(EXTRACTED, shard, ShardBatch(
            shard=shard,
            new_ids=frozenset(p.source.document_id for p in changes.new),
            changed_ids=frozenset(p.source.document_id for p in changes.changed),
            num_unchanged=changes.unchanged,
            touched=tuple(changes.touched),
            deleted=tuple(d.document_id for d in changes.deleted),
            failures=tuple(failures),
            extracted=tuple(extracted),
        ))
        totals["num_files"] += len(by_shard[shard])
        totals["num_documents_new"] += len(changes.new)
        totals["num_documents_changed"] += len(changes.changed)
        totals["num_documents_reprocessed"] += changes.reprocessed
        totals["num_documents_unchanged"] += changes.unchanged
        totals["num_documents_deleted"] += len(changes.deleted)
        totals["num_documents_failed"] += len(failures)
        totals["num_documents_extracted"] += len(extracted)
        totals["num_files_hashed"] += changes.hashed
    seconds = time.perf_counter() - started
    log.info(
        f"shards {','.join(shards)}: {totals['num_files']} files, "
        f"{totals['num_documents_new']} new, {totals['num_documents_changed']} changed, "
        f"{totals['num_documents_deleted']} deleted, {totals['num_documents_failed']} failed"
    )
    return {
        **{key: int(totals[key]) for key in (
            "num_files", "num_documents_new", "num_documents_changed",
            "num_documents_reprocessed", "num_documents_unchanged", "num_documents_deleted",
            "num_documents_failed",
            "num_documents_extracted", "num_files_hashed", "num_pages")},
        "num_shards": len(shards),
        "processing_fingerprint": processing_fingerprint(settings),
        "extract_seconds": round(seconds, 3),
        "pages_per_second": round(totals["num_pages"] / seconds, 1) if seconds else 0.0,
        "failure_reasons": dict(failure_reasons),
    }


def clean_shards(services: PipelineServices, shards: list[str], log: Log) -> dict[str, object]:
    started = time.perf_counter()
    batches = {shard: read_input(services.stages, CLEANED, shard) for shard in shards}
    cleaned_all = {
        shard: [clean_document(d) for d in batch.extracted] for shard, batch in batches.items()
    }
    # Exact duplicates: same cleaned text as a document already indexed, or as an earlier
    # document of this batch (ordered by path, so the choice of original is stable).
    candidates = sorted(
        (d for docs in cleaned_all.values() for d in docs), key=lambda d: d.source.relative_path
    )
    originals = services.ledger.indexed_text_hashes(d.text_hash for d in candidates)
    duplicate_of: dict[str, str] = {}
    for document in candidates:
        original = originals.get(document.text_hash)
        if original is not None and original != document.source.document_id:
            duplicate_of[document.source.document_id] = original
        else:
            originals.setdefault(document.text_hash, document.source.document_id)
    num_cleaned = num_duplicates = num_empty = 0
    chars = 0
    for shard, batch in batches.items():
        kept, duplicates, failures = [], [], list(batch.failures)
        for document in cleaned_all[shard]:
            if not document.text.strip():
                failures.append(DocumentFailure(document.source, document.file_hash,
                                                "no text left after cleaning"))
                num_empty += 1
            elif document.source.document_id in duplicate_of:
                duplicates.append(replace(document,
                                          duplicate_of=duplicate_of[document.source.document_id]))
            else:
                kept.append(document)
                chars += len(document.text)
        num_cleaned += len(kept)
        num_duplicates += len(duplicates)
        services.stages.write(CLEANED, shard, replace(batch, extracted=(), cleaned=tuple(kept),
                                                     duplicates=tuple(duplicates),
                                                     failures=tuple(failures)))
    if num_duplicates:
        log.info(f"{num_duplicates} exact duplicate documents detected (not indexed twice)")
    seconds = time.perf_counter() - started
    return {
        "num_documents": num_cleaned,
        "num_documents_duplicate": num_duplicates,
        "num_documents_empty": num_empty,
        "num_characters": chars,
        "clean_seconds": round(seconds, 3),
    }

