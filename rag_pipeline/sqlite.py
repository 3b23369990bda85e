"""SQLite helpers shared by the ledger, the collection registry and the embedding cache."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import ClassVar

_BATCH = 500
"""Parameters per IN (...) query (SQLite caps the number of parameters)."""
_BUSY_TIMEOUT_SECONDS = 60.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so). While another connection switches a new file at
    the same moment (two runs starting on a fresh data folder), SQLite answers "database is
    locked" at once, without waiting on the busy timeout: try again until the timeout."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection, one transaction (committed on success, rolled back on error). WAL mode and
    a long busy timeout let readers and one writer from other processes proceed."""
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_SECONDS)  # SQLite's busy timeout
    try:
        _use_wal(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        with conn:
            yield conn
    finally:
        conn.close()


def select_in(conn: sqlite3.Connection, query: str, values: Iterable[str],
              leading: Sequence[object] = ()) -> Iterator[tuple]:
    """Run `query`, whose `{in}` placeholder becomes IN (?, ...), over `values` in batches."""
    items = list(values)
    for start in range(0, len(items), _BATCH):
        part = items[start : start + _BATCH]
        yield from conn.execute(query.format(marks=",".join("?" * len(part))),
                                [*leading, *part])


def add_missing_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    """Upgrade a file written by an older release in place: add the columns it lacks."""
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns.items():
        if name in present:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        except sqlite3.OperationalError as exc:  # another process added it meanwhile
            if "duplicate column" not in str(exc):
                raise


class SqliteStore:
    """A SQLite file with a schema, created on first use; subclasses set `schema`."""

    schema: ClassVar[str] = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(self.schema)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)
