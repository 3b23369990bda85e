"""A store on files that one process at a time may open: opened under a file lock, briefly.

Both embedded Qdrant engines lock their folder to one opener (qdrant-client's local mode by
its own lock file, Qdrant Edge by its write-ahead log). Every user of such a store (runs,
checks, `rag-pipeline search`) opens it through `session()`, which waits on a file lock and
holds it for one piece of work, so a search during an ingest run waits a moment instead of
crashing. `holding()` keeps one opening for several calls (a searcher answering many
queries, a run on a store whose opens are costly); bulk writes give the lock up between their
parts even then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Generic, TypeVar

from filelock import FileLock

H = TypeVar("H")
POINTS_PER_SESSION = 16384
"""A bulk writer gives the lock up this often (seconds of writing), so searches interleave."""


class HeldStore(Generic[H]):
    """Subclasses open and close the handle (`_open`, `_close`); a store that needs no lock
    (a server) returns its shared handle from `_unlocked`."""

    def __init__(self, path: Path, lock_timeout_seconds: float) -> None:
        self.path = path
        self.lock_timeout_seconds = lock_timeout_seconds
        self._held: H | None = None
        self._held_by: int | None = None
        self._held_lock: FileLock | None = None
        self._hold_wanted_by: int | None = None
        self.points_per_session = POINTS_PER_SESSION

    def _open(self) -> H:
        raise NotImplementedError

    def _close(self, handle: H) -> None:
        raise NotImplementedError

    def _unlocked(self) -> H | None:
        return None

    @property
    def needs_lock(self) -> bool:
        return True

    def _lock(self) -> FileLock:
        self.path.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock", timeout=self.lock_timeout_seconds)

    @contextmanager
    def session(self) -> Iterator[H]:
        """A handle for a short piece of work (the folder is locked meanwhile)."""
        me = threading.get_ident()
        if self._held is None and self._hold_wanted_by == me:
            self._open_hold()  # inside holding(): the first use opens, the others reuse
        if self._held is not None and self._held_by == me:
            yield self._held
            return
        shared = self._unlocked()
        if shared is not None:
            yield shared
            return
        with self._lock():
            handle = self._open()
            try:
                yield handle
            finally:
                self._close(handle)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Keep one handle open for several calls: opened by the first call that needs it
        (none: never); other processes wait while it is open."""
        me = threading.get_ident()
        if not self.needs_lock or self._hold_wanted_by == me:
            yield
            return
        self._hold_wanted_by = me
        try:
            yield
        finally:
            self._hold_wanted_by = None
            if self._held is not None and self._held_by == me:
                self._close_hold()

    def close(self) -> None:
        """Close an opening this thread holds (the end of a run or a searcher)."""
        if self._held is not None and self._held_by == threading.get_ident():
            self._close_hold()
        self._hold_wanted_by = None

    def held_handle(self) -> H | None:
        """The handle this thread holds open, if any."""
        return self._held if self._held_by == threading.get_ident() else None

    def _open_hold(self) -> None:
        lock = self._lock()
        lock.acquire()
        try:
            handle = self._open()
        except BaseException:
            lock.release()
            raise
        self._held, self._held_by, self._held_lock = handle, threading.get_ident(), lock

    def _close_hold(self) -> None:
        handle, lock = self._held, self._held_lock
        self._held = self._held_by = self._held_lock = None
        try:
            if handle is not None:
                self._close(handle)
        finally:
            if lock is not None:
                lock.release()

    def in_sessions(self, count: int, write: Callable[[int, int, bool], None]) -> None:
        """`write(lo, hi, last)` over [0, count) in slices of `points_per_session`, each in
        its own session: the lock is given up between them even inside holding(), and the
        last slice's opening stays held for what follows (no second open)."""
        step = self.points_per_session
        slices = [(lo, min(lo + step, count)) for lo in range(0, count, step)]
        with self.hold_released() if len(slices) > 1 else nullcontext():
            for lo, hi in slices[:-1]:
                write(lo, hi, False)
        for lo, hi in slices[-1:]:
            write(lo, hi, True)

    @contextmanager
    def hold_released(self) -> Iterator[None]:
        """Bulk writes give the lock up between their sessions even inside holding(), so
        searches are not shut out for a whole large write (the next call opens again)."""
        me = threading.get_ident()
        if not (self.needs_lock and self._hold_wanted_by == me):
            yield
            return
        if self._held is not None and self._held_by == me:
            self._close_hold()
        self._hold_wanted_by = None  # each session of the write opens and closes
        try:
            yield
        finally:
            self._hold_wanted_by = me
