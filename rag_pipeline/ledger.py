"""The document ledger (the state database): what was seen, what was indexed, what failed and why.

The ledger is the pipeline's commit point. It is written last, after Qdrant, in one transaction
per batch: if a run dies before that, the documents still look changed and the next run redoes
them (deterministic point ids make that idempotent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from rag_pipeline.language import SAMPLE_CHARS
from rag_pipeline.records import Chunk, CleanedDocument, DocumentFailure, SourceFile
from rag_pipeline.state_database import StateConnection, StateDatabase, retried
from rag_pipeline.state_schema import LEDGER, LEDGER_COLUMNS_ADDED_LATER

INDEXED = "indexed"
FAILED = "failed"
DUPLICATE = "duplicate"
STATUSES = (INDEXED, FAILED, DUPLICATE)



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


class Ledger:
    def __init__(self, database: StateDatabase | Path) -> None:
        self.database = StateDatabase.at(database)
        self.database.create(LEDGER, LEDGER_COLUMNS_ADDED_LATER)

    def _connect(self) -> AbstractContextManager[StateConnection]:
        return self.database.transaction()

    # -- reads -------------------------------------------------------------------------------

    @retried
    def documents(self, shards: Iterable[str] | None = None) -> dict[str, LedgerDocument]:
        with self._connect() as conn:
            if shards is None:
                rows = list(conn.execute("SELECT * FROM documents"))
            else:
                rows = list(conn.select_in("SELECT * FROM documents WHERE shard IN :shards",
                                           "shards", shards))
        return {
            row.document_id: LedgerDocument(
                **{k: v for k, v in row._mapping.items() if k != "updated_at"})
            for row in rows
        }

    @retried
    def chunk_ids(self, document_ids: Iterable[str]) -> dict[str, set[str]]:
        result: dict[str, set[str]] = {}
        with self._connect() as conn:
            for document_id, chunk_id in conn.select_in(
                "SELECT document_id, chunk_id FROM chunks WHERE document_id IN :ids", "ids",
                document_ids,
            ):
                result.setdefault(document_id, set()).add(chunk_id)
        return result

    @retried
    def indexed_text_hashes(self, text_hashes: Iterable[str]) -> dict[str, str]:
        """text hash -> id of an indexed document with that exact content (the one first by
        source path, compared in Python: a database's collation may order paths otherwise)."""
        first: dict[str, tuple[str, str]] = {}
        with self._connect() as conn:
            for text_hash, source_path, document_id in conn.select_in(
                "SELECT text_hash, source_path, document_id FROM documents WHERE "
                "status = :status AND text_hash IN :hashes", "hashes", set(text_hashes),
                {"status": INDEXED},
            ):
                if text_hash not in first or source_path < first[text_hash][0]:
                    first[text_hash] = (source_path, document_id)
        return {text_hash: document_id for text_hash, (_, document_id) in first.items()}

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every chunk, by chunk id, streamed (ids are lower-case UUIDs: every collation
        orders them alike)."""
        with self._connect() as conn:
            for chunk_id, payload in conn.stream(
                    "SELECT chunk_id, payload FROM chunks ORDER BY chunk_id"):
                yield Chunk.from_payload(chunk_id, json.loads(payload))

    def index_texts(self) -> Iterator[tuple[str, str, str | None]]:
        """(chunk id, the text BM25 indexes, its language) of every chunk, by chunk id."""
        with self._connect() as conn:
            for chunk_id, payload, document_language in conn.stream(
                "SELECT c.chunk_id, c.payload, d.language FROM chunks c JOIN documents d "
                "ON c.document_id = d.document_id ORDER BY c.chunk_id"
            ):
                chunk = Chunk.from_payload(chunk_id, json.loads(payload))
                yield chunk_id, chunk.index_text, chunk.language or document_language

    @retried
    def texts_without_language(self) -> dict[str, str]:
        """Document id -> the start of its chunks' text, for indexed documents whose language
        was never detected (indexed by a release before detection existed)."""
        samples: dict[str, list[str]] = {}
        with self._connect() as conn:
            for document_id, payload in conn.execute(
                "SELECT d.document_id, c.payload FROM documents d JOIN chunks c "
                "ON c.document_id = d.document_id WHERE d.language IS NULL AND "
                "d.status = :status ORDER BY d.document_id, c.chunk_index", {"status": INDEXED}
            ):
                parts = samples.setdefault(document_id, [])
                if sum(map(len, parts)) < SAMPLE_CHARS:
                    parts.append(str(json.loads(payload)["text"]))
        return {document_id: "\n".join(parts) for document_id, parts in samples.items()}

    @retried
    def set_languages(self, languages: dict[str, str]) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE documents SET language = :language WHERE document_id = :id",
                         [{"language": language, "id": doc_id}
                          for doc_id, language in languages.items()])

    @retried
    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        with self._connect() as conn:
            return {
                chunk_id: Chunk.from_payload(chunk_id, json.loads(payload))
                for chunk_id, payload in conn.select_in(
                    "SELECT chunk_id, payload FROM chunks WHERE chunk_id IN :ids", "ids",
                    chunk_ids)
            }

    @retried
    def generation(self) -> int:
        """Increases with every committed batch: a watcher can tell "already seen" from "new"."""
        with self._connect() as conn:
            return int(conn.scalar("SELECT COALESCE(MAX(generation), 0) FROM commits"))

    @retried
    def shard_generations(self) -> dict[str, int]:
        """Generation of the last commit that changed each shard's chunks."""
        with self._connect() as conn:
            return {shard: int(generation) for shard, generation in
                    conn.execute("SELECT shard, generation FROM shard_generations")}

    def chunks_in_shards(self, shards: Iterable[str]) -> list[Chunk]:
        """Chunks indexed before languages were detected get their document's language."""
        chunks = []
        for chunk_id, payload, document_language in self._shard_chunk_rows(
                "c.payload, d.language", shards):
            fields = json.loads(payload)
            fields["language"] = fields.get("language") or document_language
            chunks.append(Chunk.from_payload(chunk_id, fields))
        return chunks

    def chunk_ids_by_shard(self, shards: Iterable[str]) -> dict[str, set[str]]:
        """Each listed shard's chunk ids (empty for a shard without chunks), payloads unread."""
        shard_list = list(shards)
        found: dict[str, set[str]] = {shard: set() for shard in shard_list}
        for chunk_id, shard in self._shard_chunk_rows("d.shard", shard_list):
            found[shard].add(chunk_id)
        return found

    @retried
    def _shard_chunk_rows(self, columns: str, shards: Iterable[str]) -> list[tuple]:
        """(chunk id, *`columns`) of every chunk of the given shards, by chunk id."""
        with self._connect() as conn:
            rows = [tuple(row) for row in conn.select_in(
                f"SELECT c.chunk_id, {columns} FROM chunks c JOIN documents d "
                "ON c.document_id = d.document_id WHERE d.shard IN :shards", "shards", shards)]
        return sorted(rows)  # one order across the IN batches

    @retried
    def chunk_id_list(self) -> list[str]:
        with self._connect() as conn:
            return [row[0] for row in conn.execute("SELECT chunk_id FROM chunks")]

    @retried
    def num_chunks(self) -> int:
        with self._connect() as conn:
            return int(conn.scalar("SELECT COUNT(*) FROM chunks"))

    @retried
    def status_counts(self) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM documents GROUP BY status")
            counts = {status: 0 for status in STATUSES}
            counts.update({status: int(n) for status, n in rows})
            return counts

    @retried
    def language_counts(self) -> dict[str, int]:
        """Indexed documents per detected language, most first ("?" where not yet detected)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT COALESCE(language, '?'), COUNT(*) FROM documents "
                "WHERE status = :status GROUP BY COALESCE(language, '?')", {"status": INDEXED})
            counts = [(language, int(n)) for language, n in rows]
        return dict(sorted(counts, key=lambda item: (-item[1], item[0])))

    def failed_documents(self) -> list[LedgerDocument]:
        return sorted(
            (d for d in self.documents().values() if d.status == FAILED),
            key=lambda d: d.source_path,
        )

    # -- the commit point --------------------------------------------------------------------

    @retried
    def apply(self, update: LedgerUpdate) -> None:
        """One transaction. Run again after a lost connection, it writes the same rows (the
        first attempt was rolled back), under a new generation."""
        now = time.time()
        with self._connect() as conn:
            generation = conn.scalar(
                "INSERT INTO commits (committed_at) VALUES (:now) RETURNING generation",
                {"now": now})
            shards = {d.source.shard for d, _ in update.indexed}
            shards |= {d.source.shard for d in update.duplicates}
            shards |= {f.source.shard for f in update.failed}
            shards |= {shard for (shard,) in conn.select_in(
                "SELECT shard FROM documents WHERE document_id IN :ids", "ids", update.deleted)}
            conn.execute(
                "INSERT INTO shard_generations (shard, generation) VALUES (:shard, :generation) "
                "ON CONFLICT (shard) DO UPDATE SET generation = excluded.generation",
                [{"shard": shard, "generation": generation} for shard in sorted(shards)],
            )
            conn.execute("DELETE FROM documents WHERE document_id = :id",
                         [{"id": document_id} for document_id in update.deleted])
            for document, chunks in update.indexed:
                self._upsert_document(conn, document.source, now, status=INDEXED,
                                      file_hash=document.file_hash,
                                      text_hash=document.text_hash,
                                      num_pages=document.num_pages, num_chunks=len(chunks),
                                      language=document.language,
                                      processing=update.processing)
                conn.execute("DELETE FROM chunks WHERE document_id = :id",
                             {"id": document.source.document_id})
                conn.execute(
                    "INSERT INTO chunks (chunk_id, document_id, chunk_index, content_hash, "
                    "payload) VALUES (:chunk_id, :document_id, :chunk_index, :content_hash, "
                    ":payload)",
                    [
                        {"chunk_id": c.chunk_id, "document_id": c.document_id,
                         "chunk_index": c.chunk_index, "content_hash": c.content_hash,
                         "payload": json.dumps(c.payload(), ensure_ascii=False)}
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
                conn.execute("DELETE FROM chunks WHERE document_id = :id",
                             {"id": document.source.document_id})
            for failure in update.failed:
                self._upsert_document(conn, failure.source, now, status=FAILED,
                                      file_hash=failure.file_hash, error=failure.error,
                                      processing=update.processing)
                conn.execute("DELETE FROM chunks WHERE document_id = :id",
                             {"id": failure.source.document_id})
            conn.execute(
                "UPDATE documents SET size = :size, mtime_ns = :mtime_ns, version = :version, "
                "updated_at = :now WHERE document_id = :id",
                [{"size": f.size, "mtime_ns": f.mtime_ns, "version": f.version, "now": now,
                  "id": f.document_id} for f in update.touched],
            )
            # A duplicate whose original is gone must be indexed in its own right: forget its
            # content so the next scan of its shard processes it again.
            conn.execute(
                "UPDATE documents SET file_hash = NULL, mtime_ns = -1 WHERE duplicate_of = :id",
                [{"id": d} for d in update.deleted],
            )

    @staticmethod
    def _upsert_document(
        conn: StateConnection,
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
        values = {
            "document_id": source.document_id, "source_path": source.relative_path,
            "shard": source.shard, "size": source.size, "mtime_ns": source.mtime_ns,
            "file_hash": file_hash, "text_hash": text_hash, "status": status,
            "num_pages": num_pages, "num_chunks": num_chunks, "error": error,
            "duplicate_of": duplicate_of, "updated_at": now, "language": language,
            "processing": processing, "version": source.version,
        }
        updates = ", ".join(f"{k} = excluded.{k}" for k in values if k != "document_id")
        conn.execute(
            f"INSERT INTO documents ({', '.join(values)}) "
            f"VALUES ({', '.join(':' + k for k in values)}) "
            f"ON CONFLICT (document_id) DO UPDATE SET {updates}",
            values,
        )
