"""The document ledger (SQLite): what was seen, what was indexed, what failed and why.

The ledger is the pipeline's commit point. It is written last, after Qdrant, in one transaction
per batch: if a run dies before that, the documents still look changed and the next run redoes
them (deterministic point ids make that idempotent).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag_pipeline.language import SAMPLE_CHARS
from rag_pipeline.records import Chunk, CleanedDocument, DocumentFailure, SourceFile
from rag_pipeline.sqlite import SqliteStore, add_missing_columns, select_in

INDEXED = "indexed"
FAILED = "failed"
DUPLICATE = "duplicate"
STATUSES = (INDEXED, FAILED, DUPLICATE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    source_path TEXT NOT NULL,
    shard TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    file_hash TEXT,
    text_hash TEXT,
    status TEXT NOT NULL,
    num_pages INTEGER,
    num_chunks INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    duplicate_of TEXT,
    updated_at REAL NOT NULL,
    language TEXT,
    processing TEXT,
    version TEXT
);
CREATE INDEX IF NOT EXISTS documents_shard ON documents(shard);
CREATE INDEX IF NOT EXISTS documents_text_hash ON documents(text_hash);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE TABLE IF NOT EXISTS commits (
    generation INTEGER PRIMARY KEY AUTOINCREMENT,
    committed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shard_generations (
    shard TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class LedgerDocument:
    document_id: str
    source_path: str
    shard: str
    size: int
    mtime_ns: int
    file_hash: str | None
    text_hash: str | None
    status: str
    num_pages: int | None
    num_chunks: int
    error: str | None
    duplicate_of: str | None
    language: str | None = None
    processing: str | None = None
    """The processing fingerprint its chunks were made with (`rag_pipeline.processing`);
    None for documents recorded before fingerprints were."""
    version: str | None = None
    """The store's change token when it was listed (`SourceFile.version`)."""


@dataclass
class LedgerUpdate:
    """Everything one batch changes in the ledger, applied in one transaction."""

    indexed: list[tuple[CleanedDocument, tuple[Chunk, ...]]] = field(default_factory=list)
    duplicates: list[CleanedDocument] = field(default_factory=list)
    failed: list[DocumentFailure] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    touched: list[SourceFile] = field(default_factory=list)
    """Files whose mtime/size changed but whose bytes did not: remember the new stat only."""
    processing: str | None = None
    """The processing fingerprint of this batch, recorded with every document it writes."""


class Ledger(SqliteStore):
    schema = _SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self._connect() as conn:  # a ledger from before languages were detected
            add_missing_columns(conn, "documents", {"language": "TEXT", "processing": "TEXT",
                                                    "version": "TEXT"})

    # -- reads -------------------------------------------------------------------------------

    def documents(self, shards: Iterable[str] | None = None) -> dict[str, LedgerDocument]:
        query = "SELECT * FROM documents"
        params: list[str] = []
        if shards is not None:
            shard_list = list(shards)
            query += f" WHERE shard IN ({','.join('?' * len(shard_list))})"
            params = shard_list
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(query, params).fetchall()
        return {
            row["document_id"]: LedgerDocument(
                **{k: row[k] for k in row.keys() if k != "updated_at"}
            )
            for row in rows
        }

    def chunk_ids(self, document_ids: Iterable[str]) -> dict[str, set[str]]:
        result: dict[str, set[str]] = {}
        with self._connect() as conn:
            for document_id, chunk_id in select_in(
                conn, "SELECT document_id, chunk_id FROM chunks WHERE document_id IN ({marks})",
                document_ids,
            ):
                result.setdefault(document_id, set()).add(chunk_id)
        return result

    def indexed_text_hashes(self, text_hashes: Iterable[str]) -> dict[str, str]:
        """text hash -> id of an indexed document with that exact content."""
        found: dict[str, str] = {}
        with self._connect() as conn:
            for text_hash, document_id in select_in(
                conn, "SELECT text_hash, document_id FROM documents WHERE status = ? AND "
                "text_hash IN ({marks}) ORDER BY source_path", set(text_hashes), [INDEXED],
            ):
                found.setdefault(text_hash, document_id)
        return found

    def iter_chunks(self) -> Iterator[Chunk]:
        with self._connect() as conn:
            for chunk_id, payload in conn.execute(
                "SELECT chunk_id, payload FROM chunks ORDER BY chunk_id"
            ):
                yield Chunk.from_payload(chunk_id, json.loads(payload))

    def index_texts(self) -> Iterator[tuple[str, str, str | None]]:
        """(chunk id, the text BM25 indexes, its language) of every chunk, by chunk id."""
        with self._connect() as conn:
            for chunk_id, payload, document_language in conn.execute(
                "SELECT c.chunk_id, c.payload, d.language FROM chunks c JOIN documents d "
                "ON c.document_id = d.document_id ORDER BY c.chunk_id"
            ):
                chunk = Chunk.from_payload(chunk_id, json.loads(payload))
                yield chunk_id, chunk.index_text, chunk.language or document_language

    def texts_without_language(self) -> dict[str, str]:
        """Document id -> the start of its chunks' text, for indexed documents whose language
        was never detected (indexed by a release before detection existed)."""
        samples: dict[str, list[str]] = {}
        with self._connect() as conn:
            for document_id, payload in conn.execute(
                "SELECT d.document_id, c.payload FROM documents d JOIN chunks c "
                "ON c.document_id = d.document_id WHERE d.language IS NULL AND d.status = ? "
                "ORDER BY d.document_id, c.chunk_index", (INDEXED,)
            ):
                parts = samples.setdefault(document_id, [])
                if sum(map(len, parts)) < SAMPLE_CHARS:
                    parts.append(str(json.loads(payload)["text"]))
        return {document_id: "\n".join(parts) for document_id, parts in samples.items()}

    def set_languages(self, languages: dict[str, str]) -> None:
        with self._connect() as conn:
            conn.executemany("UPDATE documents SET language = ? WHERE document_id = ?",
                             [(language, doc_id) for doc_id, language in languages.items()])

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        with self._connect() as conn:
            return {
                chunk_id: Chunk.from_payload(chunk_id, json.loads(payload))
                for chunk_id, payload in select_in(
                    conn, "SELECT chunk_id, payload FROM chunks WHERE chunk_id IN ({marks})",
                    chunk_ids)
            }

    def generation(self) -> int:
        """Increases with every committed batch: a watcher can tell "already seen" from "new"."""
        with self._connect() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(generation), 0) FROM commits")
                       .fetchone()[0])

    def shard_generations(self) -> dict[str, int]:
        """Generation of the last commit that changed each shard's chunks."""
        with self._connect() as conn:
            return dict(conn.execute("SELECT shard, generation FROM shard_generations"))

    def chunks_in_shards(self, shards: Iterable[str]) -> list[Chunk]:
        """Chunks indexed before languages were detected get their document's language."""
        with_language = ("json_set(c.payload, '$.language', "
                         "COALESCE(json_extract(c.payload, '$.language'), d.language))")
        return [Chunk.from_payload(chunk_id, json.loads(payload))
                for chunk_id, payload in self._shard_chunk_rows(with_language, shards)]

    def chunk_ids_by_shard(self, shards: Iterable[str]) -> dict[str, set[str]]:
        """Each listed shard's chunk ids (empty for a shard without chunks), payloads unread."""
        shard_list = list(shards)
        found: dict[str, set[str]] = {shard: set() for shard in shard_list}
        for chunk_id, shard in self._shard_chunk_rows("d.shard", shard_list):
            found[shard].add(chunk_id)
        return found

    def _shard_chunk_rows(self, column: str, shards: Iterable[str]) -> list[tuple[str, str]]:
        """(chunk id, `column`) of every chunk of the given shards, by chunk id."""
        shard_list = list(shards)
        if not shard_list:
            return []
        with self._connect() as conn:
            return conn.execute(
                f"SELECT c.chunk_id, {column} FROM chunks c JOIN documents d "
                "ON c.document_id = d.document_id "
                f"WHERE d.shard IN ({','.join('?' * len(shard_list))}) ORDER BY c.chunk_id",
                shard_list,
            ).fetchall()

    def chunk_id_list(self) -> list[str]:
        with self._connect() as conn:
            return [row[0] for row in conn.execute("SELECT chunk_id FROM chunks")]

    def num_chunks(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def status_counts(self) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM documents GROUP BY status")
            counts = {status: 0 for status in STATUSES}
            counts.update({status: int(n) for status, n in rows})
            return counts

    def language_counts(self) -> dict[str, int]:
        """Indexed documents per detected language, most first ("?" where not yet detected)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT COALESCE(language, '?'), COUNT(*) FROM documents WHERE status = ? "
                "GROUP BY 1 ORDER BY 2 DESC, 1", (INDEXED,))
            return {language: int(n) for language, n in rows}

    def failed_documents(self) -> list[LedgerDocument]:
        return sorted(
            (d for d in self.documents().values() if d.status == FAILED),
            key=lambda d: d.source_path,
        )

    # -- the commit point --------------------------------------------------------------------

    def apply(self, update: LedgerUpdate) -> None:
        now = time.time()
        with self._connect() as conn:
            generation = conn.execute(
                "INSERT INTO commits (committed_at) VALUES (?)", (now,)).lastrowid
            shards = {d.source.shard for d, _ in update.indexed}
            shards |= {d.source.shard for d in update.duplicates}
            shards |= {f.source.shard for f in update.failed}
            for document_id in update.deleted:
                row = conn.execute("SELECT shard FROM documents WHERE document_id = ?",
                                   (document_id,)).fetchone()
                if row:
                    shards.add(row[0])
            conn.executemany(
                "INSERT INTO shard_generations (shard, generation) VALUES (?, ?) "
                "ON CONFLICT(shard) DO UPDATE SET generation = excluded.generation",
                [(shard, generation) for shard in shards],
            )
            for document_id in update.deleted:
                conn.execute("DELETE FROM documents WHERE document_id = ?", (document_id,))
            for document, chunks in update.indexed:
                self._upsert_document(conn, document.source, now, status=INDEXED,
                                      file_hash=document.file_hash,
                                      text_hash=document.text_hash,
                                      num_pages=document.num_pages, num_chunks=len(chunks),
                                      language=document.language,
                                      processing=update.processing)
                conn.execute("DELETE FROM chunks WHERE document_id = ?",
                             (document.source.document_id,))
                conn.executemany(
                    "INSERT INTO chunks (chunk_id, document_id, chunk_index, content_hash, "
                    "payload) VALUES (?, ?, ?, ?, ?)",
                    [
                        (c.chunk_id, c.document_id, c.chunk_index, c.content_hash,
                         json.dumps(c.payload(), ensure_ascii=False))
                        for c in chunks
                    ],
                )
            for document in update.duplicates:
                self._upsert_document(conn, document.source, now, status=DUPLICATE,
                                      file_hash=document.file_hash,
                                      text_hash=document.text_hash,
                                      num_pages=document.num_pages,
                                      duplicate_of=document.duplicate_of,
                                      language=document.language,
                                      processing=update.processing)
                conn.execute("DELETE FROM chunks WHERE document_id = ?",
                             (document.source.document_id,))
            for failure in update.failed:
                self._upsert_document(conn, failure.source, now, status=FAILED,
                                      file_hash=failure.file_hash, error=failure.error,
                                      processing=update.processing)
                conn.execute("DELETE FROM chunks WHERE document_id = ?",
                             (failure.source.document_id,))
            conn.executemany(
                "UPDATE documents SET size = ?, mtime_ns = ?, version = ?, updated_at = ? "
                "WHERE document_id = ?",
                [(f.size, f.mtime_ns, f.version, now, f.document_id) for f in update.touched],
            )
            if update.deleted:
                # A duplicate whose original is gone must be indexed in its own right:
                # forget its content so the next scan of its shard processes it again.
                conn.executemany(
                    "UPDATE documents SET file_hash = NULL, mtime_ns = -1 "
                    "WHERE duplicate_of = ?",
                    [(d,) for d in update.deleted],
                )

    @staticmethod
    def _upsert_document(
        conn: sqlite3.Connection,
        source: SourceFile,
        now: float,
        *,
        status: str,
        file_hash: str | None,
        text_hash: str | None = None,
        num_pages: int | None = None,
        num_chunks: int = 0,
        error: str | None = None,
        duplicate_of: str | None = None,
        language: str | None = None,
        processing: str | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO documents (document_id, source_path, shard, size, mtime_ns, "
            "file_hash, text_hash, status, num_pages, num_chunks, error, duplicate_of, "
            "updated_at, language, processing, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(document_id) DO UPDATE SET source_path=excluded.source_path, "
            "shard=excluded.shard, size=excluded.size, mtime_ns=excluded.mtime_ns, "
            "file_hash=excluded.file_hash, text_hash=excluded.text_hash, "
            "status=excluded.status, num_pages=excluded.num_pages, "
            "num_chunks=excluded.num_chunks, error=excluded.error, "
            "duplicate_of=excluded.duplicate_of, updated_at=excluded.updated_at, "
            "language=excluded.language, processing=excluded.processing, "
            "version=excluded.version",
            (
                source.document_id, source.relative_path, source.shard, source.size,
                source.mtime_ns, file_hash, text_hash, status, num_pages, num_chunks, error,
                duplicate_of, now, language, processing, source.version,
            ),
        )
