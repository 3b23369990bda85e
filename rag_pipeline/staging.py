"""Hand-over of batches between pipeline stages, one file per (stage, shard) (in the data folder,
or on an object store by `RAG_STAGING_URI`: `object_store_staging`).

Dagster's IO managers cannot store one output for a range of partitions (a single-run backfill),
so each stage writes its shard's batch here and the next stage reads it. Writes are atomic.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Protocol


class StageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, stage: str, shard: str) -> Path:
        return self.root / stage / f"{shard}.pkl"

    def write(self, stage: str, shard: str, batch: Any) -> None:
        path = self._path(stage, shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(batch, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def read(self, stage: str, shard: str) -> Any:
        path = self._path(stage, shard)
        if not path.exists():
            raise FileNotFoundError(
                f"no {stage} batch for shard {shard}: materialize the upstream asset for this "
                "partition first"
            )
        with path.open("rb") as handle:
            return pickle.load(handle)


class StageHandOver(Protocol):
    """Where a stage leaves its shard's batch for the next one."""

    def write(self, stage: str, shard: str, batch: Any) -> None: ...

    def read(self, stage: str, shard: str) -> Any: ...


def open_stage_store(staging_uri: str | None, staging_dir: Path) -> StageHandOver:
    """The data folder's `staging/` by default; an object store by `RAG_STAGING_URI`."""
    uri = (staging_uri or "").strip()
    if uri and "://" in uri and not uri.startswith("file://"):
        from rag_pipeline.object_store_staging import ObjectStoreStageStore

        return ObjectStoreStageStore(uri)
    return StageStore(Path(uri.removeprefix("file://")) if uri else staging_dir)
