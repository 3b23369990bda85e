"""The state database's tables, declared once for SQLite and PostgreSQL alike.

Types are chosen for both: sizes and nanosecond times are 64-bit, times in seconds are double
precision (PostgreSQL's REAL is 32-bit), vectors are bytes (BLOB / BYTEA).
"""

from __future__ import annotations

import sqlalchemy as sa

Text = sa.Text
Seconds = sa.Double

LEDGER = sa.MetaData()
sa.Table(
    "documents", LEDGER,
    sa.Column("document_id", Text, primary_key=True),
    sa.Column("source_path", Text, nullable=False),
    sa.Column("shard", Text, nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("file_hash", Text),
    sa.Column("text_hash", Text, index=True),
    sa.Column("status", Text, nullable=False),
    sa.Column("num_pages", sa.Integer),
    sa.Column("num_chunks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", Text),
    sa.Column("duplicate_of", Text),
    sa.Column("updated_at", Seconds, nullable=False),
    sa.Column("language", Text),
    sa.Column("processing", Text),
    sa.Column("version", Text),
)
sa.Table(
    "chunks", LEDGER,
    sa.Column("chunk_id", Text, primary_key=True),
    sa.Column("document_id", Text, sa.ForeignKey("documents.document_id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("chunk_index", sa.Integer, nullable=False),
    sa.Column("content_hash", Text, nullable=False),
    sa.Column("payload", Text, nullable=False),
)
sa.Table(
    "commits", LEDGER,
    sa.Column("generation", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("committed_at", Seconds, nullable=False),
    sqlite_autoincrement=True,
)
sa.Table(
    "shard_generations", LEDGER,
    sa.Column("shard", Text, primary_key=True),
    sa.Column("generation", sa.Integer, nullable=False),
)
LEDGER_COLUMNS_ADDED_LATER = {"documents": ("language", "processing", "version")}

REGISTRY = sa.MetaData()
sa.Table(
    "collections", REGISTRY,
    sa.Column("name", Text, primary_key=True),
    sa.Column("model", Text, nullable=False),
    sa.Column("fingerprint", Text, nullable=False),
    sa.Column("dimension", sa.Integer, nullable=False),
    sa.Column("created_at", Seconds, nullable=False),
    sa.Column("published_at", Seconds),
    sa.Column("rolled_back_at", Seconds),
    sa.Column("bm25_k1", Seconds),
    sa.Column("bm25_b", Seconds),
    sa.Column("bm25_avgdl", Seconds),
)
sa.Table(
    "collection_shards", REGISTRY,
    sa.Column("collection", Text, primary_key=True),
    sa.Column("shard", Text, primary_key=True),
    sa.Column("synced_generation", sa.Integer, nullable=False),
)
REGISTRY_COLUMNS_ADDED_LATER = {"collections": ("bm25_k1", "bm25_b", "bm25_avgdl")}

VERIFIED_STATES = sa.MetaData()
sa.Table(
    "verified_states", VERIFIED_STATES,
    sa.Column("name", Text, primary_key=True),
    sa.Column("signature", Text, nullable=False),
    sa.Column("outcomes", Text, nullable=False),
    sa.Column("verified_at", Seconds, nullable=False),
)

EMBEDDING_CACHE = sa.MetaData()
sa.Table(
    "vectors", EMBEDDING_CACHE,
    sa.Column("fingerprint", Text, primary_key=True),
    sa.Column("content_hash", Text, primary_key=True),
    sa.Column("dimension", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)
