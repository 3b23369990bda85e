"""Registry of Qdrant collections (one per embedding fingerprint), beside the ledger.

Records which model built each collection, when it was published behind the alias, and, per
shard, the ledger generation it was last synced at: a collection that is not the live one falls
behind the ledger, and is re-synced shard by shard when it becomes the target again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from rag_pipeline.sqlite import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    created_at REAL NOT NULL,
    published_at REAL,
    rolled_back_at REAL
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


class CollectionRegistry(SqliteStore):
    schema = _SCHEMA

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
