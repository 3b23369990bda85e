"""SQLite helpers shared by the ledger, the collection registry and the embedding cache."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import ClassVar

_BATCH = 500
"""Parameters per IN (...) query (SQLite caps the number of parameters)."""


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection, one transaction (committed on success, rolled back on error). WAL mode and
    a long busy timeout let readers and one writer from other processes proceed."""
    conn = sqlite3.connect(path, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=60000")
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
