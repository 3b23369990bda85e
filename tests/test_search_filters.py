"""Search filters on document metadata (file type, folder, tags, modification time), applied by
the engine before ranking, for dense, BM25 and hybrid alike, on Qdrant Edge and on
qdrant-client; titles and tags from front matter and sidecar files."""

from __future__ import annotations

import os

import pytest

from assets.ingest_run import run_ingest
from rag_pipeline import cli
from rag_pipeline.filters import SearchFilter, epoch_seconds
from rag_pipeline.ledger import Ledger
from rag_pipeline.search import MODES, Searcher
from rag_pipeline.settings import QdrantSettings, Settings
from tests.fixtures import write_knowledge_base, write_text

LEAVE = ("# Annual leave\n\nEmployees receive twenty-five days of paid annual leave, booked "
         "through the holiday planner at least two weeks ahead.\n")
OLD = epoch_seconds("2020-06-01")
EXPENSES_PATH = "handbook/policies/expenses.md"
EXPENSES = ("---\ntitle: Travel expenses\ntags: [finance, policy]\nreviewed: 2026\n---\n"
            "# Claiming expenses\n\nTrain tickets and hotel nights on company travel are "
            "reimbursed within a month of the claim.\n")


@pytest.fixture(scope="module", params=["edge", "local-mode"])
def indexed(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Settings:
    """The knowledge base, plus the same leave policy as Markdown in handbook/policies/, as
    text in handbook/ last modified in 2020, and in handbook-archive/ (not in handbook/)."""
    root = tmp_path_factory.mktemp("filters")
    source = root / "source"
    write_knowledge_base(source)
    write_text(source / "handbook" / "policies" / "leave.md", LEAVE)
    old = write_text(source / "handbook" / "leave-2020.txt", "Annual leave in 2020\n\n"
                     "Employees received twenty days of paid annual leave in 2020.\n")
    os.utime(old, (OLD, OLD))
    write_text(source / "handbook-archive" / "leave.md", LEAVE + "\nArchived.\n")
    write_text(source / "handbook" / "policies" / "expenses.md", EXPENSES)
    write_text(source / "handbook" / "leave-2020.txt.meta.json",
               '{"title": "Leave in 2020", "tags": ["archive"], "owner": "hr"}')
    settings = Settings(source_dir=source, data_dir=root / "data", golden_set=None,
                        qdrant=QdrantSettings(embedded=request.param))
    run_ingest(settings)
    return settings


def paths(settings: Settings, mode: str, where: SearchFilter | None,
          query: str = "paid annual leave days") -> list[str]:
    hits = Searcher(settings).search(query, k=20, mode=mode,  # type: ignore[arg-type]
                                     where=where)
    return sorted({hit.chunk.source_path for hit in hits})


@pytest.mark.parametrize("mode", MODES)
def test_filters_choose_documents_before_ranking(indexed: Settings, mode: str) -> None:
    """Each filtered search finds the leave policy it allows (BM25 finds no other document
    for this query, dense search ranks every allowed one) and nothing it does not allow."""
    unfiltered = paths(indexed, mode, None)
    assert {"handbook/policies/leave.md", "handbook/leave-2020.txt",
            "handbook-archive/leave.md"} <= set(unfiltered)
    cases = [
        (SearchFilter(types=("txt",)), "handbook/leave-2020.txt", {"chess.txt"}),
        (SearchFilter(folders=("handbook/",)), "handbook/policies/leave.md",
         {"handbook/leave-2020.txt", EXPENSES_PATH}),  # not handbook-archive/
        (SearchFilter(types=("md",), folders=("handbook/",)), "handbook/policies/leave.md",
         {EXPENSES_PATH}),
        (SearchFilter(folders=("handbook/",), modified_since=OLD + 86400),
         "handbook/policies/leave.md", {EXPENSES_PATH}),
    ]
    for where, found, also_allowed in cases:
        result = paths(indexed, mode, where)
        assert found in result and set(result) <= {found, *also_allowed}, (where, result)
    assert paths(indexed, mode, SearchFilter(types=("xlsx",))) == []


def test_the_payload_carries_the_documents_facts(indexed: Settings) -> None:
    chunks = [c for c in Ledger(indexed.ledger_path).iter_chunks()
              if c.source_path == "space/satellites.pdf"]
    assert chunks and all(c.facts is not None for c in chunks)
    facts = chunks[0].facts
    assert facts is not None
    assert (facts.type, facts.folders, facts.num_pages) == ("pdf", ("space/",), 2)
    source = indexed.source_dir / "space" / "satellites.pdf"
    assert facts.size_bytes == source.stat().st_size
    assert facts.modified_at == int(source.stat().st_mtime)


@pytest.mark.parametrize("mode", MODES)
def test_tags_from_front_matter_and_sidecars_filter(indexed: Settings, mode: str) -> None:
    assert paths(indexed, mode, SearchFilter(tags=("owner=hr",))) == ["handbook/leave-2020.txt"]
    either = SearchFilter(tags=("archive", "policy"))
    assert paths(indexed, mode, either, "annual leave and travel expenses") == [
        "handbook/leave-2020.txt", EXPENSES_PATH]
    assert paths(indexed, mode, SearchFilter(tags=("policy",), types=("txt",))) == []


def test_titles_and_tags_are_in_the_payload(indexed: Settings) -> None:
    """The user's title wins, then the document's first heading, then its file name; front
    matter is metadata, not text; a sidecar is not a document."""
    chunks = list(Ledger(indexed.ledger_path).iter_chunks())
    facts = {c.source_path: c.facts for c in chunks}
    assert "handbook/leave-2020.txt.meta.json" not in facts
    expenses, old = facts["handbook/policies/expenses.md"], facts["handbook/leave-2020.txt"]
    assert expenses is not None and old is not None
    assert (expenses.title, expenses.tags) == ("Travel expenses",
                                               ("finance", "policy", "reviewed=2026"))
    assert (old.title, old.tags) == ("Leave in 2020", ("archive", "owner=hr"))
    leave = facts["handbook/policies/leave.md"]
    assert leave is not None and (leave.title, leave.tags) == ("Annual leave", ())
    assert facts["chess.txt"] is not None and facts["chess.txt"].title
    expense_text = " ".join(c.text for c in chunks
                            if c.source_path == "handbook/policies/expenses.md")
    assert "reimbursed" in expense_text and "finance" not in expense_text


def test_the_cli_takes_where_and_since(indexed: Settings, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_SOURCE_DIR", str(indexed.source_dir))
    monkeypatch.setenv("RAG_DATA_DIR", str(indexed.data_dir))
    monkeypatch.setenv("RAG_QDRANT_EMBEDDED", indexed.qdrant.embedded)
    assert cli.main(["search", "paid annual leave", "--where", "folder=handbook",
                     "--since", "2021-01-01"]) == 0
    out = capsys.readouterr().out
    assert "handbook/policies/leave.md" in out
    assert "leave-2020.txt" not in out and "handbook-archive" not in out
    assert cli.main(["search", "paid annual leave", "--where", "tag=owner=hr"]) == 0
    out = capsys.readouterr().out
    assert "leave-2020.txt" in out and "policies" not in out
    assert cli.main(["search", "leave", "--where", "colour=blue"]) == 2
    assert "expected type=EXT, folder=PATH/ or tag=TAG" in capsys.readouterr().err
    assert cli.main(["search", "leave", "--since", "last week"]) == 2


def test_where_parses_into_one_filter() -> None:
    where = SearchFilter.parse(["type=.PDF", "folder=/handbook/", "type=md", "tag=team=hr"],
                               "2026-01-01")
    assert where == SearchFilter(types=("pdf", "md"), folders=("handbook/",), tags=("team=hr",),
                                 modified_since=epoch_seconds("2026-01-01T00:00:00+00:00"))
    assert not SearchFilter.parse([], None)
    with pytest.raises(ValueError, match="type=EXT"):
        SearchFilter.parse(["type"], None)
