"""Extractors that misbehave on purpose, run inside the extraction workers by the tests."""

from __future__ import annotations

import os
import time

from rag_pipeline.changes import PendingFile
from rag_pipeline.extract.isolation import ExtractionLimits, _extract
from rag_pipeline.records import DocumentFailure, ExtractedDocument


def misbehave(pending: PendingFile, limits: ExtractionLimits
              ) -> ExtractedDocument | DocumentFailure:
    name = pending.source.path.name
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("crash"):
        os._exit(3)
    if name.startswith("bomb"):
        hoard = []
        try:
            while True:
                hoard.append(bytearray(50 * 1024 * 1024))
        except MemoryError:
            # Freed before the error leaves the worker: pebble keeps a task's exception (and
            # the frames it references) until the worker's next task, which would then fail.
            hoard.clear()
            raise
    return _extract(pending, limits)


def failing_init(memory_mb: int) -> None:
    """A worker initializer that cannot start (a broken parser install, say)."""
    raise ImportError("simulated: the parsers cannot be imported in the worker")
