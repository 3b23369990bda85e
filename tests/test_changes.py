from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_pipeline import changes
from rag_pipeline.changes import diff_against_ledger
from rag_pipeline.ledger import LedgerDocument
from rag_pipeline.sources import list_source_files


def ledger_row(source, file_hash: str, status: str = "indexed") -> LedgerDocument:
    return LedgerDocument(source.document_id, source.relative_path, source.shard, source.size,
                          source.mtime_ns, file_hash, None, status, None, 1, None, None)


def test_unchanged_files_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(20):
        (tmp_path / f"{i}.txt").write_text(f"document {i}")
    files = list_source_files(tmp_path)
    known = {f.document_id: ledger_row(f, "h") for f in files}
    reads: list[Path] = []
    monkeypatch.setattr(changes, "file_hash", lambda p: reads.append(p) or "h")
    result = diff_against_ledger(files, known)
    assert result.unchanged == 20 and not result.pending and reads == []


def test_new_changed_touched_and_deleted(tmp_path: Path) -> None:
    for name in ("keep.txt", "edit.txt", "touch.txt", "gone.txt"):
        (tmp_path / name).write_text(name)
    before = {f.relative_path: f for f in list_source_files(tmp_path)}
    from rag_pipeline.ids import file_hash

    known = {f.document_id: ledger_row(f, file_hash(f.path)) for f in before.values()}
    (tmp_path / "edit.txt").write_text("edited content")
    os.utime(tmp_path / "edit.txt", ns=(0, before["edit.txt"].mtime_ns + 10**9))
    os.utime(tmp_path / "touch.txt", ns=(0, before["touch.txt"].mtime_ns + 10**9))
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "new.txt").write_text("new")
    result = diff_against_ledger(list_source_files(tmp_path), known)
    assert [p.source.relative_path for p in result.new] == ["new.txt"]
    assert [p.source.relative_path for p in result.changed] == ["edit.txt"]
    assert [f.relative_path for f in result.touched] == ["touch.txt"]
    assert [d.source_path for d in result.deleted] == ["gone.txt"]
    assert result.unchanged == 2  # keep.txt, and touch.txt whose bytes did not change
    assert result.hashed == 3


def test_listing_ignores_hidden_temporary_and_escaping_files(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / ".git").mkdir(parents=True)
    (source / ".git" / "config").write_text("x")
    for name in ("ok.md", ".hidden.md", "~$draft.docx", "notes.md.swp", "big.pdf.part", "x.tmp"):
        (source / name).write_text("x")
    outside = tmp_path / "outside.md"
    outside.write_text("secret")
    (source / "link.md").symlink_to(outside)
    (source / "inside-link.md").symlink_to(source / "ok.md")
    names = sorted(f.relative_path for f in list_source_files(source))
    assert names == ["inside-link.md", "ok.md"]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.pdf", "b.md", "sub/c.pdf", "sub/d.pdf"):
        (tmp_path / name).write_text("x")
    names = sorted(f.relative_path for f in list_source_files(
        tmp_path, include_globs=["**/*.pdf"], exclude_globs=["sub/d.*"]))
    assert names == ["a.pdf", "sub/c.pdf"]
