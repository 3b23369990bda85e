"""The hand-over between pipeline stages on an object store (`RAG_STAGING_URI`), so the steps of
a run may execute on different machines (a step-per-worker executor such as Celery's).

One object per (stage, shard), written with one PUT (an object appears whole or not at all),
through fsspec with the store's standard configuration (for S3: `AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, ...), as the object-store source reads documents.
"""

from __future__ import annotations

import pickle
from typing import Any

import fsspec


class ObjectStoreStageStore:
    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.uri)

    def _path(self, stage: str, shard: str) -> str:
        return f"{self.root}/{stage}/{shard}.pkl"

    def write(self, stage: str, shard: str, batch: Any) -> None:
        self.fs.pipe_file(self._path(stage, shard),
                          pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))

    def read(self, stage: str, shard: str) -> Any:
        try:
            data = self.fs.cat_file(self._path(stage, shard))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no {stage} batch for shard {shard} in {self.uri}: materialize the upstream "
                "asset for this partition first") from None
        return pickle.loads(data)
