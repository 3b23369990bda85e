"""Vectors keyed by (embedding fingerprint, chunk content hash): a chunk is embedded once per model.

Stored in SQLite beside the ledger. The index stage reads vectors from here, so they are never
copied through the staging area.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rag_pipeline.sqlite import SqliteStore, select_in

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    fingerprint TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (fingerprint, content_hash)
) WITHOUT ROWID;
"""


class EmbeddingCache(SqliteStore):
    schema = _SCHEMA

    def missing(self, fingerprint: str, content_hashes: Iterable[str]) -> set[str]:
        wanted = set(content_hashes)
        return wanted - set(self.get(fingerprint, wanted))

    def get(self, fingerprint: str, content_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        with self._connect() as conn:
            return {
                content_hash: np.frombuffer(blob, dtype=np.float32)
                for content_hash, blob in select_in(
                    conn, "SELECT content_hash, vector FROM vectors WHERE fingerprint = ? AND "
                    "content_hash IN ({marks})", content_hashes, [fingerprint])
            }

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
