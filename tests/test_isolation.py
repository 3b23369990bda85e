"""A hung, crashing or memory-exploding parser costs one document, never the batch."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract.isolation import (
    ExtractionLimits,
    extract_isolated,
    stop_extraction_workers,
)
from rag_pipeline.records import DocumentFailure, ExtractedDocument
from rag_pipeline.sources import list_source_files
from tests.misbehaving_extractors import misbehave


def pending_files(folder: Path) -> list[PendingFile]:
    return [PendingFile(f, "hash") for f in list_source_files(folder)]


def test_hang_crash_and_bomb_fail_alone(tmp_path: Path) -> None:
    for name in ("a-good.md", "bomb.md", "crash.md", "hang.md", "z-good.md"):
        (tmp_path / name).write_text(f"# {name}\n\nSome text about {name}.\n")
    limits = ExtractionLimits(timeout_seconds=3, memory_mb=1024, workers=2)
    started = time.monotonic()
    results = {r.source.relative_path: r for r in
               extract_isolated(pending_files(tmp_path), limits, extractor=misbehave)}
    assert time.monotonic() - started < 90
    assert isinstance(results["a-good.md"], ExtractedDocument)
    assert isinstance(results["z-good.md"], ExtractedDocument)
    errors = {name: r.error for name, r in results.items() if isinstance(r, DocumentFailure)}
    assert errors["hang.md"] == "extraction exceeded the 3 s time limit (stopped)"
    assert errors["crash.md"].startswith("extraction crashed (worker exit code 3)")
    assert "memory" in errors["bomb.md"]
    # The pool recovers: the next batch extracts normally.
    again = list(extract_isolated(pending_files(tmp_path)[:1], limits))
    assert isinstance(again[0], ExtractedDocument)


def test_stopped_workers_are_replaced_by_the_next_extraction(tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text("# Note\n\nA short note about tides.\n")
    limits = ExtractionLimits(memory_mb=1024, workers=1)
    stop_extraction_workers()
    before = set(multiprocessing.active_children())
    [first] = extract_isolated(pending_files(tmp_path), limits)
    workers = set(multiprocessing.active_children()) - before
    assert workers and all(w.is_alive() for w in workers)
    stop_extraction_workers()
    assert not any(w.is_alive() for w in workers)
    [again] = extract_isolated(pending_files(tmp_path), limits)
    assert isinstance(first, ExtractedDocument) and again == first


def test_workers_start_only_for_documents_they_get(tmp_path: Path) -> None:
    """Each worker imports the parsers and loads spaCy: one new document starts one worker, a
    larger batch the configured number."""
    for name in ("a.md", "b.md", "c.md"):
        (tmp_path / name).write_text(f"# {name}\n\nA short note about {name}.\n")
    limits = ExtractionLimits(memory_mb=1024, workers=2)
    stop_extraction_workers()
    before = set(multiprocessing.active_children())

    def started() -> int:
        return len({w for w in multiprocessing.active_children() if w.is_alive()} - before)

    try:
        [one] = extract_isolated(pending_files(tmp_path)[:1], limits)
        assert isinstance(one, ExtractedDocument) and started() == 1
        results = list(extract_isolated(pending_files(tmp_path), limits))
        assert all(isinstance(r, ExtractedDocument) for r in results) and started() == 2
    finally:
        stop_extraction_workers()
