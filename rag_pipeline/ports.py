"""What the pipeline needs of a vector index, a keyword index and a document source, stated
without any backend.

Adapters implement it: `QdrantStore` (qdrant-client: a Qdrant server, or its local mode) and
`EdgeStore` (Qdrant Edge, Qdrant's engine in-process); `LocalFolderSource` and
`ObjectStoreSource` (S3 and the other fsspec stores). Only an adapter imports its backend's
library; locks, retries and the like stay inside it. Every collection holds a dense vector and
a sparse BM25 vector per chunk (`sparse_bm25`), and readers go through an alias.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from rag_pipeline.document_metadata import UserMetadata
from rag_pipeline.filters import FILTER_FIELDS, MODIFIED_FIELD, SearchFilter
from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.records import SourceFile
from rag_pipeline.sparse_bm25 import SparseVector

SCHEMA_VERSION = "s2"
"""Part of every collection's name: named dense + sparse BM25 vectors. Collections without it
(an older release's) have one unnamed dense vector and no sparse one."""
INDEXED_FIELDS = ("document_id", "shard", "source_path", *FILTER_FIELDS)
"""Payload fields with a keyword index (filters by document, shard, source and the search
filters' type and folders); `INTEGER_FIELDS` have an integer index."""
INTEGER_FIELDS = (MODIFIED_FIELD,)


def qdrant_rrf_k(rrf_k: int) -> int:
    """Qdrant's RRF constant for this project's: Qdrant scores 1 / (k + rank) with ranks
    counted from 0 (server, local mode and Edge alike), this project from 1."""
    return rrf_k + 1


class DocumentSource(Protocol):
    """Where the documents live: a local folder, or an object store (`RAG_SOURCE_URI`)."""

    def describe(self) -> str: ...

    def list_files(self, include_globs: Iterable[str] = ("**/*",),
                   exclude_globs: Iterable[str] = ()) -> Iterator[SourceFile]:
        """Every document with its listing facts (size, modification time, change token),
        without reading one. Raises when the listing fails: nothing is taken as deleted."""
        ...

    def fetch(self, file: SourceFile) -> Path:
        """A local file with the document's bytes (the file itself in a folder). OSError for
        this document alone (it vanished, it is unreadable); other errors fail the run."""
        ...

    def read_metadata(self, file: SourceFile) -> UserMetadata:
        """What the store and the document's sidecar say about it (title, tags), read for
        the documents a run processes only."""
        ...

    def discard_copies(self) -> None:
        """Remove the local copies `fetch` made (none for a folder)."""
        ...


class Hit(NamedTuple):
    id: str
    score: float
    payload: dict


class VectorIndex(Protocol):
    alias: str
    path: Path

    @property
    def is_local(self) -> bool:
        """True for an embedded store under the data folder (False: a server)."""
        ...

    def describe(self) -> str: ...

    def holding(self) -> AbstractContextManager[None]:
        """Keep the store open for the calls inside (an embedded store opens once): what a
        long-lived searcher wants."""
        ...

    def run_session(self) -> AbstractContextManager[None]:
        """What one pipeline run keeps open between its steps: the adapter decides, because
        only it knows what an opening costs and who else waits for it."""
        ...

    def close(self) -> None:
        """Give back what the store holds (a held opening, a server connection)."""
        ...

    def state(self) -> object | None:
        """Something that changes whenever the stored points or aliases change, cheap to get
        (None where there is none, as on a server): what the index checks' verified state
        is keyed by."""
        ...

    def collection_name(self, spec: EmbeddingModelSpec) -> str: ...

    def live(self) -> str | None:
        """The collection the alias points to, None before the first one."""
        ...

    def collections(self) -> list[str]: ...

    def ensure_collection(self, name: str, dimension: int) -> None: ...

    def point_alias(self, name: str) -> str | None:
        """Move the alias to `name` atomically; returns the previous collection."""
        ...

    def drop_collection(self, name: str) -> None: ...

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray,
               payloads: Sequence[dict[str, object]],
               sparse: Sequence[SparseVector] | None = None) -> None: ...

    def delete_stale(self, collection: str, keep: dict[str, set[str]]) -> None:
        """For the given documents, delete every point not in their chunk sets."""
        ...

    def delete_shard_leftovers(self, collection: str, keep: dict[str, set[str]]) -> None:
        """Per shard, delete every point not in the shard's chunk set."""
        ...

    def count(self, collection: str | None = None) -> int | None: ...

    def dimension(self, collection: str) -> int | None:
        """The dense vectors' size in `collection`, None if it does not exist."""
        ...

    def point_documents(self, collection: str) -> dict[str, str]:
        """Point id -> its payload's document id, for every point ({} if no collection)."""
        ...

    def payloads(self, collection: str, ids: Sequence[str]) -> dict[str, dict]: ...

    # `where`: only chunks of matching documents, filtered by the engine before ranking.
    def query(self, vector: np.ndarray, limit: int, collection: str | None = None,
              where: SearchFilter | None = None) -> list[Hit]: ...

    def query_sparse(self, vector: SparseVector, limit: int, collection: str | None = None,
                     where: SearchFilter | None = None) -> list[Hit]: ...

    def query_hybrid(self, dense: np.ndarray, sparse: SparseVector, limit: int,
                     candidates: int, rrf_k: int, collection: str | None = None,
                     where: SearchFilter | None = None) -> list[Hit]: ...


class KeywordIndex(Protocol):
    """BM25 over a knowledge base's chunks: rank-bm25's file (`bm25_store.RankBM25File`) or the
    sparse vectors of a collection (`keyword_indexes.SparseVectorKeywords`); both give the
    Lucene-IDF BM25 scores of `sparse_bm25`. Raises LookupError when there is no index yet."""

    name: str

    def search(self, query: str, limit: int) -> list[Hit]:
        """Best first; a hit's payload is {} where the index keeps only chunk ids (the caller
        reads those chunks from the ledger)."""
        ...
