"""Stable identifiers and content hashes."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from rag_pipeline.settings import NUM_SHARDS

_NAMESPACE = uuid.UUID("5b0f6c1e-7d7a-4c1b-9a4e-2f3d6e8a9b10")


def document_id_for(relative_path: str) -> str:
    """A document is identified by its path relative to the source folder."""
    return str(uuid.uuid5(_NAMESPACE, "doc:" + relative_path))


def shard_for(document_id: str, num_shards: int = NUM_SHARDS) -> str:
    digest = hashlib.sha256(document_id.encode()).digest()
    return shard_key(int.from_bytes(digest[:4], "big") % num_shards)


def shard_key(index: int) -> str:
    return f"{index:02d}"


def all_shard_keys(num_shards: int = NUM_SHARDS) -> list[str]:
    return [shard_key(i) for i in range(num_shards)]


def chunk_id_for(document_id: str, content_hash: str) -> str:
    """Deterministic Qdrant point id: the same chunk of the same document always lands on the
    same point, so re-running a partition overwrites instead of duplicating."""
    return str(uuid.uuid5(_NAMESPACE, f"chunk:{document_id}:{content_hash}"))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_hash(path: Path, block_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()
