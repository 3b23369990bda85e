"""Extraction in worker processes that can be stopped.

A parser that hangs (a cyclic page tree) or explodes (a decompression bomb) must cost one
document, not the run: each document gets a time limit, each worker a memory limit, and pebble
replaces a worker that was killed or crashed. Workers are started once per process (spawn, so
they never inherit torch's threads) and reused by the following runs.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from pebble import ProcessExpired, ProcessPool

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract.announced_texts import forget_prepared_texts, prepare_plain_text_files
from rag_pipeline.extract.dispatch import extract_document
from rag_pipeline.extract.pdf import OcrOptions
from rag_pipeline.parent_watch import exit_with_parent
from rag_pipeline.records import DocumentFailure, ExtractedDocument

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionLimits:
    timeout_seconds: float = 120.0
    memory_mb: int = 4096
    max_file_mb: int = 200
    max_pages: int = 2000
    max_characters: int = 20_000_000
    workers: int = 2
    ocr: OcrOptions = field(default_factory=OcrOptions)


def _init_worker(memory_mb: int) -> None:
    """Warm up (imports, spaCy model) before any time limit runs, then cap the memory (Linux)."""
    import resource

    exit_with_parent()
    from rag_pipeline.extract.spacy_model import use_packaged_spacy_model

    use_packaged_spacy_model()
    import pymupdf  # noqa: F401
    from unstructured.nlp.tokenize import _get_nlp
    from unstructured.partition.auto import partition  # noqa: F401

    _get_nlp()
    # RLIMIT_AS caps address space, which the imports above already use plenty of: allow
    # memory_mb on top of what the warmed-up worker maps.
    mapped = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    limit = mapped + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _extract(pending: PendingFile, limits: ExtractionLimits) -> ExtractedDocument | DocumentFailure:
    return extract_document(pending, max_file_bytes=limits.max_file_mb * 1024 * 1024,
                            max_pages=limits.max_pages, max_characters=limits.max_characters,
                            ocr=limits.ocr)


_pools: dict[tuple[int, int], tuple[ProcessPool, int]] = {}
"""The running pool per (configured workers, memory limit), with its number of workers."""
_lock = threading.Lock()


def _pool(limits: ExtractionLimits, documents: int) -> ProcessPool:
    """No worker starts that would get no document (each one imports the parsers and loads
    spaCy): a run with one new file starts one. A later, larger batch gets the full pool."""
    key = (limits.workers, limits.memory_mb)
    size = max(1, min(limits.workers, documents))
    with _lock:
        running = _pools.get(key)
        if running is not None and running[1] < size:
            _stop(running[0])
            running = None
        if running is None:
            running = (ProcessPool(
                max_workers=size, context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(limits.memory_mb,)), size)
            _pools[key] = running
        return running[0]


@atexit.register
def stop_extraction_workers() -> None:
    """Stop this process' extraction workers; the next extraction starts fresh ones."""
    with _lock:
        pools = [pool for pool, _ in _pools.values()]
        _pools.clear()
    for pool in pools:
        _stop(pool)


def _stop(pool: ProcessPool) -> None:
    pool.stop()
    pool.join(timeout=5)


class ExtractionPoolError(RuntimeError):
    """The extraction workers themselves failed (not a document): the run must fail, and no
    document may be marked failed (a failed document loses its points)."""


def _discard(limits: ExtractionLimits) -> None:
    with _lock:
        running = _pools.pop((limits.workers, limits.memory_mb), None)
    if running is not None:
        _stop(running[0])


Extractor = Callable[[PendingFile, ExtractionLimits], "ExtractedDocument | DocumentFailure"]
Result = ExtractedDocument | DocumentFailure

GROUP_MAX_BYTES = 64 * 1024
GROUP_MAX_DOCUMENTS = 16
GROUPED_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".html", ".htm", ".xhtml",
                              ".rst", ".org", ".csv", ".tsv", ".eml"})
"""Short files of these text formats go to a worker in groups: for a one-paragraph document,
sending the task and its result costs a tenth of extracting it, and the paragraphs of a group
of plain-text files are classified together (`prepare_plain_text_files`). Binary formats
(PDF, Office) always go alone: a small one can still be a decompression bomb."""


def _groupable(item: PendingFile) -> bool:
    return (item.source.size <= GROUP_MAX_BYTES
            and item.source.path.suffix.lower() in GROUPED_SUFFIXES)


def _extract_group(items: list[PendingFile], limits: ExtractionLimits,
                   extractor: Extractor) -> list[Result]:
    """One worker task for several short documents, under one time limit."""
    prepare_plain_text_files([item.source.path for item in items])
    try:
        return [extractor(item, limits) for item in items]
    finally:
        forget_prepared_texts()


def _tasks(pending: list[PendingFile], workers: int) -> list[list[int]]:
    """Indexes of `pending` per worker task, largest files first (longest-processing-time
    first: a big document started last would keep one worker busy while the other idles at the
    end of the batch). Groups stay small enough that every worker gets several."""
    by_size = sorted(range(len(pending)), key=lambda i: -pending[i].source.size)
    small = [i for i in by_size if _groupable(pending[i])]
    size = max(1, min(GROUP_MAX_DOCUMENTS, len(small) // (workers * 4)))
    return ([[i] for i in by_size if not _groupable(pending[i])]
            + [small[start : start + size] for start in range(0, len(small), size)])


def _failure(item: PendingFile, exc: BaseException, limits: ExtractionLimits) -> DocumentFailure:
    """Why a document's own task failed, in the words its ledger row keeps."""
    if isinstance(exc, FutureTimeoutError):
        reason = (f"extraction exceeded the {limits.timeout_seconds:.0f} s time limit "
                  "(stopped)")
    elif isinstance(exc, ProcessExpired):
        reason = (f"extraction crashed (worker exit code {exc.exitcode}): memory limit of "
                  f"{limits.memory_mb} MB exceeded or parser crash")
    elif isinstance(exc, MemoryError):
        reason = f"exceeds the {limits.memory_mb} MB memory limit"
    else:  # the worker could not even return a result
        reason = f"extraction failed: {type(exc).__name__}: {exc}"[:300]
    return DocumentFailure(item.source, item.file_hash, reason)


def extract_isolated(pending: list[PendingFile], limits: ExtractionLimits,
                     extractor: Extractor = _extract) -> Iterator[Result]:
    """Results in the order of `pending`; never raises for a bad document. `extractor` must be
    a module-level function (it is sent to the worker by reference).

    When a group fails as a whole (a document in it hung, crashed or exploded), each of its
    documents is extracted again alone, so only the bad one fails, with its own reason."""
    if not pending:
        return
    pool = _pool(limits, len(pending))

    def schedule(members: list[int]) -> Future:
        if len(members) == 1:
            return pool.schedule(extractor, args=(pending[members[0]], limits),
                                 timeout=limits.timeout_seconds)
        return pool.schedule(_extract_group,
                             args=([pending[i] for i in members], limits, extractor),
                             timeout=limits.timeout_seconds)

    tasks = [(members, schedule(members)) for members in _tasks(pending, limits.workers)]
    task_of = {i: task for task in tasks for i in task[0]}
    done: dict[int, Result] = {}
    try:
        for index in range(len(pending)):
            if index not in done:
                done.update(_collect(*task_of[index], pending, limits, schedule))
            yield done.pop(index)
    except BrokenProcessPool as exc:
        for _, future in tasks:
            future.cancel()
        _discard(limits)  # the next run starts a fresh pool
        raise ExtractionPoolError(
            f"the extraction worker processes failed ({exc}); no document was marked "
            "failed, re-run once the cause is fixed (a worker that cannot start: check "
            "RAG_EXTRACT_MEMORY_MB and the installed parsers)") from exc


def _collect(members: list[int], future: Future, pending: list[PendingFile],
             limits: ExtractionLimits,
             schedule: Callable[[list[int]], Future]) -> dict[int, Result]:
    try:
        result = future.result()
    except BrokenProcessPool:
        raise
    except Exception as exc:  # the task's failure becomes its documents'
        if len(members) == 1:
            return {members[0]: _failure(pending[members[0]], exc, limits)}
        logger.info("a group of %d short documents failed (%s); extracting each alone",
                    len(members), type(exc).__name__)
        alone = [([i], schedule([i])) for i in members]
        return {i: result for one, again in alone
                for i, result in _collect(one, again, pending, limits, schedule).items()}
    if len(members) == 1:
        return {members[0]: result}
    return dict(zip(members, result, strict=True))
