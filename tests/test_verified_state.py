"""Recorded check outcomes stand only for the exact state they were verified on."""

from __future__ import annotations

from pathlib import Path

from rag_pipeline.quality import CheckOutcome
from rag_pipeline.verified_state import VerifiedStates, as_recalled, files_signature


def test_outcomes_are_recalled_for_the_same_state_only(tmp_path: Path) -> None:
    store = VerifiedStates(tmp_path / "ledger.sqlite")
    outcomes = {"counts_match": CheckOutcome(True, "24 points", {"qdrant_points": 24})}
    store.record("bm25_index", "state-a", outcomes)
    assert store.recall("bm25_index", "state-b") is None
    assert store.recall("qdrant_index", "state-a") is None
    recalled, verified_at = store.recall("bm25_index", "state-a")  # type: ignore[misc]
    assert recalled == outcomes
    [shown] = as_recalled(recalled, verified_at).values()
    assert shown.passed and shown.metadata == {"qdrant_points": 24, "verified_at": verified_at}
    assert shown.description == f"24 points (indexes unchanged since verified at {verified_at})"


def test_a_file_signature_changes_with_any_write_and_notes_missing_files(tmp_path: Path) -> None:
    folder = tmp_path / "qdrant"
    (folder / "collection").mkdir(parents=True)
    storage = folder / "collection" / "storage.sqlite"
    storage.write_bytes(b"x" * 10)
    before = files_signature([folder, tmp_path / "absent.json", None])
    assert before[-1] == (str(tmp_path / "absent.json"), -1, -1)
    assert files_signature([folder, tmp_path / "absent.json", None]) == before
    storage.write_bytes(b"y" * 11)
    assert files_signature([folder, tmp_path / "absent.json", None]) != before
