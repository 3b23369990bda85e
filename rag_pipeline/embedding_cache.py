"""Vectors keyed by (embedding fingerprint, chunk content hash): a chunk is embedded once per model.

Stored in the state database (a SQLite file of its own by default, shared by the knowledge
bases). The index stage reads vectors from here, so they are never copied through the staging
area.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rag_pipeline.state_database import StateDatabase, retried
from rag_pipeline.state_schema import EMBEDDING_CACHE


class EmbeddingCache:
    def __init__(self, database: StateDatabase | Path) -> None:
        self.database = StateDatabase.at(database)
        self.database.create(EMBEDDING_CACHE)

    def missing(self, fingerprint: str, content_hashes: Iterable[str]) -> set[str]:
        wanted = set(content_hashes)
        return wanted - set(self.get(fingerprint, wanted))

    @retried
    def get(self, fingerprint: str, content_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        with self.database.transaction() as conn:
            return {
                content_hash: np.frombuffer(blob, dtype=np.float32)
                for content_hash, blob in conn.select_in(
                    "SELECT content_hash, vector FROM vectors WHERE fingerprint = :fingerprint "
                    "AND content_hash IN :hashes", "hashes", content_hashes,
                    {"fingerprint": fingerprint})
            }

    @retried
    def put(self, fingerprint: str, vectors: dict[str, np.ndarray]) -> None:
        """Concurrent runs may put the same vector: the last write wins, and they are equal."""
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO vectors (fingerprint, content_hash, dimension, vector) "
                "VALUES (:fingerprint, :hash, :dimension, :vector) "
                "ON CONFLICT (fingerprint, content_hash) DO UPDATE SET "
                "dimension = excluded.dimension, vector = excluded.vector",
                [
                    {"fingerprint": fingerprint, "hash": h, "dimension": int(v.shape[0]),
                     "vector": np.asarray(v, dtype=np.float32).tobytes()}
                    for h, v in vectors.items()
                ],
            )
