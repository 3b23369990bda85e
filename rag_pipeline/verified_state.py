"""Index checks that need not run again on the same bytes.

Opening the embedded (local-mode) Qdrant loads every point: ~3 s at 24k chunks, and the index
checks, the BM25 checks and publishing each need it, with searches for the retrieval check on
top. A run that changed nothing would spend most of its time re-verifying what the previous run
verified. So each of these records, after it ran, a signature of everything its outcome depends
on: the Qdrant folder's files (name, size, modification time), the ledger's documents and chunk
ids, the BM25 file, the golden questions, the thresholds and the target collection. When the
signature is unchanged, the recorded outcomes are reported again, saying when they were verified.

Any write to Qdrant, the ledger or BM25 changes the signature (so do other processes' writes),
and the checks run in full. A Qdrant server has no such cheap signature: there, they always run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rag_pipeline.bm25_store import chunk_set_fingerprint
from rag_pipeline.ledger import Ledger
from rag_pipeline.quality import CheckOutcome
from rag_pipeline.state_database import StateDatabase, retried
from rag_pipeline.state_schema import VERIFIED_STATES


def files_signature(paths: list[Path | None]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of each file (every file under a folder), absent ones as -1."""
    entries: list[tuple[str, int, int]] = []
    for path in paths:
        if path is None:
            continue
        try:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        except OSError:  # a folder removed while listed: a state that matches nothing
            entries.append((str(path), -1, time.time_ns()))
            continue
        for file in files:
            try:
                stat = file.stat()
                entries.append((str(file), stat.st_size, stat.st_mtime_ns))
            except FileNotFoundError:  # removed meanwhile: it differs from any recorded state
                entries.append((str(file), -1, -1))
        if not files:
            entries.append((str(path), -1, -1))
    return entries


def ledger_signature(ledger: Ledger) -> str:
    """What the checks read of the ledger: each document's state and the chunk id set (not the
    run counter or modification times, which change on every run)."""
    documents = sorted(
        (d.document_id, d.source_path, d.status, d.file_hash, d.text_hash, d.num_chunks,
         d.error, d.duplicate_of) for d in ledger.documents().values())
    digest = hashlib.sha256(repr(documents).encode())
    digest.update(chunk_set_fingerprint(ledger.chunk_id_list()).encode())
    return digest.hexdigest()


def signature(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class VerifiedStates:
    def __init__(self, database: StateDatabase | Path) -> None:
        self.database = StateDatabase.at(database)
        self.database.create(VERIFIED_STATES)

    @retried
    def recall(self, name: str, state: str) -> tuple[dict[str, CheckOutcome], str] | None:
        """The outcomes recorded for `name` at exactly this state, and when (UTC, ISO)."""
        with self.database.transaction() as conn:
            row = conn.execute("SELECT signature, outcomes, verified_at FROM verified_states "
                               "WHERE name = :name", {"name": name}).fetchone()
        if row is None or row[0] != state:
            return None
        outcomes = {key: CheckOutcome(**value) for key, value in json.loads(row[1]).items()}
        verified_at = datetime.fromtimestamp(row[2], UTC).isoformat(timespec="seconds")
        return outcomes, verified_at

    @retried
    def record(self, name: str, state: str, outcomes: dict[str, CheckOutcome]) -> None:
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO verified_states (name, signature, outcomes, verified_at) "
                "VALUES (:name, :signature, :outcomes, :now) ON CONFLICT (name) DO UPDATE SET "
                "signature = excluded.signature, outcomes = excluded.outcomes, "
                "verified_at = excluded.verified_at",
                {"name": name, "signature": state, "now": time.time(),
                 "outcomes": json.dumps({k: asdict(v) for k, v in outcomes.items()})})


def as_recalled(outcomes: dict[str, CheckOutcome], verified_at: str) -> dict[str, CheckOutcome]:
    """The recorded outcomes, saying they stand for unchanged indexes."""
    return {
        name: CheckOutcome(o.passed, f"{o.description} (indexes unchanged since verified at "
                                     f"{verified_at})",
                           {**o.metadata, "verified_at": verified_at})
        for name, o in outcomes.items()
    }
