"""Changing how documents are processed re-processes them, though their bytes did not change."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from assets.ingest_run import run_ingest
from rag_pipeline.changes import diff_against_ledger
from rag_pipeline.ledger import Ledger
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.settings import Settings
from rag_pipeline.sources import list_source_files
from rag_pipeline.watch import pending_changes
from tests.fixtures import write_knowledge_base, write_text
from tests.test_pipeline import index_sizes, qdrant_ids

LONG_NOTE = " ".join(f"Sentence {i} of the long note explains step {i} of the procedure."
                     for i in range(60))


def test_new_chunk_settings_reprocess_every_document_and_reuse_unchanged_vectors(
        settings: Settings) -> None:
    settings = replace(settings, golden_set=None)
    paths = write_knowledge_base(settings.source_dir)
    write_text(settings.source_dir / "long-note.txt", LONG_NOTE)
    documents = len(paths) + 1
    first = run_ingest(settings)
    assert first["extracted_documents"]["num_documents_new"] == documents
    fingerprint = processing_fingerprint(settings)
    assert {d.processing for d in Ledger(settings.ledger_path).documents().values()} == {
        fingerprint}

    smaller = replace(settings, chunk_tokens=60, chunk_overlap_tokens=8)
    assert processing_fingerprint(smaller) != fingerprint
    watched = pending_changes(smaller, Ledger(settings.ledger_path), settle_seconds=0)
    assert len(watched.changed) == documents and not watched.new  # the sensor sees it too

    second = run_ingest(smaller)
    extracted = second["extracted_documents"]
    assert extracted["num_documents_changed"] == extracted["num_documents_reprocessed"] == (
        documents)
    assert extracted["processing_fingerprint"] == processing_fingerprint(smaller)
    embedded = second["chunk_embeddings"]
    # The long note is cut into more, smaller chunks; the short documents' single chunks
    # come out the same and keep their vectors.
    assert embedded["num_chunks_reused"] > 0 and embedded["num_chunks_embedded"] > 0
    points, chunks, bm25 = index_sizes(smaller)
    assert points == chunks == bm25
    ledger_ids = {c.chunk_id for c in PipelineServices(smaller).ledger.iter_chunks()}
    assert qdrant_ids(smaller) == ledger_ids  # the old chunks' points are gone
    assert max(c.num_tokens for c in PipelineServices(smaller).ledger.iter_chunks()) <= 60

    third = run_ingest(smaller)
    assert third["extracted_documents"]["num_documents_changed"] == 0
    assert third["chunk_embeddings"]["num_chunks_embedded"] == 0
    assert not pending_changes(smaller, Ledger(settings.ledger_path), settle_seconds=0)


def test_documents_recorded_before_fingerprints_are_not_reprocessed(settings: Settings) -> None:
    settings = replace(settings, golden_set=None)
    write_knowledge_base(settings.source_dir)
    run_ingest(settings)
    with sqlite3.connect(settings.ledger_path) as db:  # a ledger from an older release
        db.execute("UPDATE documents SET processing = NULL")
    later = replace(settings, chunk_tokens=120)
    assert not pending_changes(later, Ledger(settings.ledger_path), settle_seconds=0)
    known = Ledger(settings.ledger_path).documents()
    files = list_source_files(settings.source_dir, None, settings.include_globs,
                              settings.exclude_globs)
    changes = diff_against_ledger(files, known, processing_fingerprint(later))
    assert not changes.pending and changes.unchanged == len(known) == len(files)
