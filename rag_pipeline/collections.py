"""Registry of Qdrant collections (one per embedding fingerprint), in the state database.

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
from rag_pipeline.state_database import StateDatabase, retried
from rag_pipeline.state_schema import REGISTRY, REGISTRY_COLUMNS_ADDED_LATER


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


_COLUMNS = ("name, model, fingerprint, dimension, created_at, published_at, rolled_back_at, "
            "bm25_k1, bm25_b, bm25_avgdl")


class CollectionRegistry:
    def __init__(self, database: StateDatabase | Path) -> None:
        self.database = StateDatabase.at(database)
        self.database.create(REGISTRY, REGISTRY_COLUMNS_ADDED_LATER)

    @retried
    def fix_bm25(self, name: str, parameters: BM25Parameters) -> BM25Parameters:
        """Record the collection's BM25 parameters unless it has them already; returns the
        ones in force (the first writer's)."""
        with self.database.transaction() as conn:
            conn.execute("UPDATE collections SET bm25_k1 = :k1, bm25_b = :b, bm25_avgdl = :avgdl "
                         "WHERE name = :name AND bm25_avgdl IS NULL",
                         {"k1": parameters.k1, "b": parameters.b, "avgdl": parameters.avgdl,
                          "name": name})
        record = self.get(name)
        if record is None or record.bm25 is None:
            raise LookupError(f"collection {name} is not registered")
        return record.bm25

    @retried
    def live(self) -> CollectionRecord | None:
        """The collection the alias was last moved to (every move is recorded here)."""
        with self.database.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM collections WHERE published_at IS NOT "
                               "NULL ORDER BY published_at DESC LIMIT 1").fetchone()
        return CollectionRecord(*row) if row else None

    @retried
    def register(self, name: str, model: str, fingerprint: str, dimension: int) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO collections (name, model, fingerprint, dimension, created_at) "
                "VALUES (:name, :model, :fingerprint, :dimension, :now) "
                "ON CONFLICT (name) DO NOTHING",
                {"name": name, "model": model, "fingerprint": fingerprint,
                 "dimension": dimension, "now": time.time()},
            )

    @retried
    def get(self, name: str) -> CollectionRecord | None:
        with self.database.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM collections WHERE name = :name",
                               {"name": name}).fetchone()
        return CollectionRecord(*row) if row else None

    @retried
    def all(self) -> list[CollectionRecord]:
        with self.database.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM collections ORDER BY created_at")
            return [CollectionRecord(*row) for row in rows]

    @retried
    def forget(self, name: str) -> None:
        with self.database.transaction() as conn:
            conn.execute("DELETE FROM collections WHERE name = :name", {"name": name})
            conn.execute("DELETE FROM collection_shards WHERE collection = :name",
                         {"name": name})

    @retried
    def mark_published(self, name: str) -> None:
        with self.database.transaction() as conn:
            conn.execute("UPDATE collections SET published_at = :now, rolled_back_at = NULL "
                         "WHERE name = :name", {"now": time.time(), "name": name})

    @retried
    def mark_rolled_back(self, name: str) -> None:
        with self.database.transaction() as conn:
            conn.execute("UPDATE collections SET rolled_back_at = :now WHERE name = :name",
                         {"now": time.time(), "name": name})

    @retried
    def synced_generations(self, name: str) -> dict[str, int]:
        with self.database.transaction() as conn:
            return {shard: int(generation) for shard, generation in conn.execute(
                "SELECT shard, synced_generation FROM collection_shards "
                "WHERE collection = :name", {"name": name})}

    @retried
    def mark_synced(self, name: str, shards: Iterable[str], generation: int) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO collection_shards (collection, shard, synced_generation) "
                "VALUES (:name, :shard, :generation) ON CONFLICT (collection, shard) "
                "DO UPDATE SET synced_generation = excluded.synced_generation",
                [{"name": name, "shard": shard, "generation": generation}
                 for shard in sorted(set(shards))],
            )

    def stale_shards(self, name: str, shards: Iterable[str],
                     shard_generations: dict[str, int]) -> list[str]:
        """Shards whose chunks changed in the ledger since this collection last synced them."""
        synced = self.synced_generations(name)
        return [s for s in shards if synced.get(s, -1) < shard_generations.get(s, 0)]
