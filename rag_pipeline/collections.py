"""Registry of Qdrant collections (one per embedding fingerprint), beside the ledger.

Records which model built each collection, when it was published behind the alias, and, per
shard, the ledger generation it was last synced at: a collection that is not the live one falls
behind the ledger, and is re-synced shard by shard when it becomes the target again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rag_pipeline.sparse_bm25 import BM25Parameters
from rag_pipeline.sqlite import SqliteStore, add_missing_columns

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    created_at REAL NOT NULL,
    published_at REAL,
    rolled_back_at REAL,
    bm25_k1 REAL,
    bm25_b REAL,
    bm25_avgdl REAL
);
CREATE TABLE IF NOT EXISTS collection_shards (
    collection TEXT NOT NULL,
    shard TEXT NOT NULL,
    synced_generation INTEGER NOT NULL,
    PRIMARY KEY (collection, shard)
);
"""


@dataclass(frozen=True)
class CollectionRecord:
    name: str
    model: str
    fingerprint: str
    dimension: int
    created_at: float
    published_at: float | None
    rolled_back_at: float | None
    bm25_k1: float | None = None
    bm25_b: float | None = None
    bm25_avgdl: float | None = None

    @property
    def bm25(self) -> BM25Parameters | None:
        """The BM25 parameters its sparse vectors were weighted with (None before the first
        write, and for collections built before sparse vectors)."""
        if self.bm25_k1 is None or self.bm25_b is None or self.bm25_avgdl is None:
            return None
        return BM25Parameters(self.bm25_k1, self.bm25_b, self.bm25_avgdl)


class CollectionRegistry(SqliteStore):
    schema = _SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self._connect() as conn:  # a registry from before sparse vectors
            add_missing_columns(conn, "collections",
                                {"bm25_k1": "REAL", "bm25_b": "REAL", "bm25_avgdl": "REAL"})

    def fix_bm25(self, name: str, parameters: BM25Parameters) -> BM25Parameters:
        """Record the collection's BM25 parameters unless it has them already; returns the
        ones in force (the first writer's)."""
        with self._connect() as conn:
            conn.execute("UPDATE collections SET bm25_k1 = ?, bm25_b = ?, bm25_avgdl = ? "
                         "WHERE name = ? AND bm25_avgdl IS NULL",
                         (parameters.k1, parameters.b, parameters.avgdl, name))
        record = self.get(name)
        if record is None or record.bm25 is None:
            raise LookupError(f"collection {name} is not registered")
        return record.bm25

    def live(self) -> CollectionRecord | None:
        """The collection the alias was last moved to (every move is recorded here)."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM collections WHERE published_at IS NOT NULL "
                               "ORDER BY published_at DESC LIMIT 1").fetchone()
        return CollectionRecord(*row) if row else None

    def register(self, name: str, model: str, fingerprint: str, dimension: int) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO collections (name, model, fingerprint, dimension, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (name, model, fingerprint, dimension, time.time()),
            )

    def get(self, name: str) -> CollectionRecord | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM collections WHERE name = ?", (name,)).fetchone()
        return CollectionRecord(*row) if row else None

    def all(self) -> list[CollectionRecord]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM collections ORDER BY created_at").fetchall()
        return [CollectionRecord(*row) for row in rows]

    def forget(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM collections WHERE name = ?", (name,))
            conn.execute("DELETE FROM collection_shards WHERE collection = ?", (name,))

    def mark_published(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE collections SET published_at = ?, rolled_back_at = NULL "
                         "WHERE name = ?", (time.time(), name))

    def mark_rolled_back(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE collections SET rolled_back_at = ? WHERE name = ?",
                         (time.time(), name))

    def synced_generations(self, name: str) -> dict[str, int]:
        with self._connect() as conn:
            return dict(conn.execute(
                "SELECT shard, synced_generation FROM collection_shards WHERE collection = ?",
                (name,)))

    def mark_synced(self, name: str, shards: Iterable[str], generation: int) -> None:
        with self._connect() as conn:
            conn.executemany(
                "INSERT INTO collection_shards (collection, shard, synced_generation) "
                "VALUES (?, ?, ?) ON CONFLICT(collection, shard) DO UPDATE SET "
                "synced_generation = excluded.synced_generation",
                [(name, shard, generation) for shard in shards],
            )

    def stale_shards(self, name: str, shards: Iterable[str],
                     shard_generations: dict[str, int]) -> list[str]:
        """Shards whose chunks changed in the ledger since this collection last synced them."""
        synced = self.synced_generations(name)
        return [s for s in shards if synced.get(s, -1) < shard_generations.get(s, 0)]
