"""Reading a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) and writing its
corpus as documents, so that it is ingested by the same extract/clean/chunk/embed/index code."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class BeirDataset:
    corpus: dict[str, tuple[str, str]]
    """document id -> (title, text)"""
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    """query id -> {document id: relevance}"""


def load_beir(path: Path, split: str = "test") -> BeirDataset:
    corpus: dict[str, tuple[str, str]] = {}
    with (path / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                corpus[str(record["_id"])] = (record.get("title") or "", record.get("text") or "")
    queries: dict[str, str] = {}
    with (path / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                queries[str(record["_id"])] = record["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (path / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            relevance = int(row["score"])
            if relevance > 0:
                qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = relevance
    return BeirDataset(corpus, {q: queries[q] for q in qrels if q in queries}, qrels)


def document_file_name(document_id: str) -> str:
    return _UNSAFE.sub("_", document_id) + ".md"


def write_corpus(dataset: BeirDataset, folder: Path) -> dict[str, str]:
    """One Markdown document per record (title as heading). Returns file name -> document id.
    Unchanged files are left alone, so a second evaluation re-uses the index."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for document_id, (title, text) in dataset.corpus.items():
        name = document_file_name(document_id)
        names[name] = document_id
        content = (f"# {title.strip()}\n\n" if title.strip() else "") + text.strip() + "\n"
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    return names
