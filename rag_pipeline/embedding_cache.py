"""Vectors keyed by (embedding fingerprint, chunk content hash): a chunk is embedded once per model.

Stored in SQLite beside the ledger. The index stage reads vectors from here, so they are never
copied through the staging area.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    fingerprint TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (fingerprint, content_hash)
) WITHOUT ROWID;
"""


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
            with conn:
                yield conn
        finally:
            conn.close()

    def missing(self, fingerprint: str, content_hashes: Iterable[str]) -> set[str]:
        wanted = set(content_hashes)
        return wanted - set(self.get(fingerprint, wanted))

    def get(self, fingerprint: str, content_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        hashes = list(content_hashes)
        found: dict[str, np.ndarray] = {}
        with self._connect() as conn:
            for start in range(0, len(hashes), 500):
                part = hashes[start : start + 500]
                rows = conn.execute(
                    f"SELECT content_hash, vector FROM vectors WHERE fingerprint = ? AND "
                    f"content_hash IN ({','.join('?' * len(part))})",
                    [fingerprint, *part],
                )
                for content_hash, blob in rows:
                    found[content_hash] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, fingerprint: str, vectors: dict[str, np.ndarray]) -> None:
        with self._connect() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (fingerprint, content_hash, dimension, vector) "
                "VALUES (?, ?, ?, ?)",
                [
                    (fingerprint, h, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                    for h, v in vectors.items()
                ],
            )
