"""A hung, crashing or memory-exploding parser costs one document, never the batch."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from unstructured.nlp import tokenize

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract.announced_texts import forget_prepared_texts, prepare_plain_text_files
from rag_pipeline.extract.isolation import (
    ExtractionLimits,
    _extract,
    _extract_group,
    _tasks,
    extract_isolated,
    stop_extraction_workers,
)
from rag_pipeline.records import DocumentFailure, ExtractedDocument
from rag_pipeline.sources import list_source_files
from tests.host_speed import budget
from tests.misbehaving_extractors import misbehave


def pending_files(folder: Path) -> list[PendingFile]:
    return [PendingFile(f, "hash") for f in list_source_files(folder)]


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


def test_hang_crash_and_bomb_fail_alone(tmp_path: Path) -> None:
    """Short text files go to the workers in groups; a group that hangs, crashes or explodes is
    extracted again one document at a time, so only the bad document fails, with its reason."""
    names = [f"note-{i:02d}.md" for i in range(37)] + ["hang.md", "crash.md", "bomb.md"]
    for name in names:
        (tmp_path / name).write_text(f"# {name}\n\nSome text about {name}.\n")
    limits = ExtractionLimits(timeout_seconds=round(budget(3)), memory_mb=1024, workers=2)
    pending = pending_files(tmp_path)
    started = time.monotonic()
    tasks = _tasks(pending, limits.workers)
    assert len(tasks) < len(pending) and all(len(members) > 1 for members in tasks)
    results = {r.source.relative_path: r for r in
               extract_isolated(pending, limits, extractor=misbehave)}
    assert time.monotonic() - started < budget(120)
    errors = {name: r.error for name, r in results.items() if isinstance(r, DocumentFailure)}
    assert set(errors) == {"hang.md", "crash.md", "bomb.md"}
    assert errors["hang.md"] == (f"extraction exceeded the {limits.timeout_seconds} s time "
                                 "limit (stopped)")
    assert errors["crash.md"].startswith("extraction crashed (worker exit code 3)")
    assert "memory" in errors["bomb.md"]
    assert sorted(results) == sorted(names)
    for name in names[:37]:
        result = results[name]
        assert isinstance(result, ExtractedDocument) and name in result.elements[0].text
    # The pool recovers: the next batch extracts normally.
    again = list(extract_isolated(pending[:1], limits))
    assert isinstance(again[0], ExtractedDocument), again[0]


def test_grouped_plain_text_gives_the_elements_of_one_at_a_time(tmp_path: Path) -> None:
    """Paragraphs of a group of .txt files are classified together: the same element types
    and texts as each file on its own (titles need the tagger, paragraphs do not)."""
    texts = {
        "ticket.txt": "Refund of the duplicate payment\n\nThe customer paid twice. Support "
                      "found a retry in the billing service and refunded one payment.\n",
        "memo.txt": "QUARTERLY REVIEW\n\n- first item\n- second item\n\nThe review is "
                    "on Monday. Bring the figures.\n",
        "short.txt": "Meeting moved to Tuesday\n",
        "note.md": "# A heading\n\nA paragraph that has two sentences. Here is the second.\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    pending = pending_files(tmp_path)
    limits = ExtractionLimits(memory_mb=1024, workers=1)
    alone = [_extract(item, limits) for item in pending]
    forget_classifications()
    prepare_plain_text_files([item.source.path for item in pending])
    model = tokenize._get_nlp()
    assert "Meeting moved to Tuesday" in model._prepared  # processed ahead, in one batch
    assert "# A heading" not in model._prepared  # Markdown is not split as text
    forget_prepared_texts()
    forget_classifications()
    grouped = _extract_group(pending, limits, _extract)
    assert grouped == alone
    types = {r.source.relative_path: [e.element_type for e in r.elements] for r in alone
             if isinstance(r, ExtractedDocument)}
    # Decided by the tagger: no verb in the first, one in the second.
    assert types["ticket.txt"] == ["Title", "NarrativeText"]
    assert types["short.txt"] == ["NarrativeText"]
    assert types["memo.txt"] == ["Title", "ListItem", "ListItem", "NarrativeText"]


def forget_classifications() -> None:
    """unstructured caches what it derived from each text: without this, the second
    extraction would reuse the first's."""
    for cached in (tokenize._process_cached, tokenize.word_tokenize, tokenize.pos_tag,
                   tokenize._tokenize_for_cache):
        cached.cache_clear()
