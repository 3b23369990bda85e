"""The records that flow through the pipeline. All frozen: a stage never mutates its input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class SourceFile:
    """A document seen in the source's listing (cheap facts only: no content read yet)."""

    path: Path
    """Where it is read: the file itself, or where an object's local copy is downloaded."""
    relative_path: str
    document_id: str
    shard: str
    size: int
    mtime_ns: int
    version: str = ""
    """The store's change token (an object's version id or ETag; empty for a local file),
    with its metadata sidecar's facts when it has one (a changed sidecar is a change)."""
    title: str | None = None
    """The title its user metadata gives (`rag_pipeline.document_metadata`), once read."""
    tags: tuple[str, ...] = ()
    """The tags its user metadata gives, once read."""


@dataclass(frozen=True)
class Element:
    """A piece of a document as extracted: a heading, a paragraph, a table, a list item..."""

    text: str
    element_type: str
    page_number: int | None = None


@dataclass(frozen=True)
class ExtractedDocument:
    source: SourceFile
    file_hash: str
    elements: tuple[Element, ...]
    num_pages: int | None = None
    language: str | None = None
    """ISO 639-1 code detected from the text (`rag_pipeline.language`); None before detection."""


@dataclass(frozen=True)
class DocumentFailure:
    """A document that could not be processed, with a one-line reason a person understands."""

    source: SourceFile
    file_hash: str | None
    error: str


@dataclass(frozen=True)
class Block:
    """A span of a cleaned document's text, with the structure it came from."""

    start: int
    end: int
    element_type: str
    page_number: int | None
    section_title: str | None

    @property
    def is_heading(self) -> bool:
        return self.element_type == "Title"

    @property
    def keeps_lines(self) -> bool:
        """Tables and code are cut between rows/lines only."""
        return self.element_type in {"Table", "CodeSnippet"}


@dataclass(frozen=True)
class CleanedDocument:
    source: SourceFile
    file_hash: str
    text: str
    text_hash: str
    blocks: tuple[Block, ...]
    num_pages: int | None = None
    duplicate_of: str | None = None
    language: str | None = None


MAX_TITLE_PREFIX_CHARS = 200
"""Longer section titles are not repeated in front of their chunks."""


def with_title(text: str, section_title: str | None) -> str:
    """The text the retrievers index and the model embeds: a chunk cut from the middle of a
    section gets its section title in front (BM25 and the embedding then know what the passage
    is about); a chunk that starts with its heading, or has none, is its own text."""
    title = " ".join((section_title or "").split())
    if not title or len(title) > MAX_TITLE_PREFIX_CHARS or text.lstrip().startswith(title):
        return text
    return f"{title}\n{text}"


@dataclass(frozen=True)
class DocumentFacts:
    """What every chunk's payload says about its document, to filter on
    (`rag_pipeline.filters`): file type, the folders it is in, size, modification time, title
    and the tags people gave it."""

    type: str
    folders: tuple[str, ...]
    """Every folder it is in, outermost first (`a/`, `a/b/`): a filter on a folder matches
    its subfolders' documents too."""
    size_bytes: int
    modified_at: int
    """Seconds since the epoch (the listing's modification time of the bytes indexed)."""
    num_pages: int | None = None
    title: str | None = None
    """The user metadata's title, else the document's first heading, else its file name."""
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, source: SourceFile, num_pages: int | None,
           heading: str | None = None) -> DocumentFacts:
        path = PurePosixPath(source.relative_path)
        parts = source.relative_path.split("/")[:-1]
        return cls(type=path.suffix.lstrip(".").lower(),
                   folders=tuple("/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)),
                   size_bytes=source.size, modified_at=source.mtime_ns // 10**9,
                   num_pages=num_pages, title=source.title or heading or path.stem,
                   tags=source.tags)


def first_heading(document: CleanedDocument) -> str | None:
    """The document's own title, as far as its structure tells: its first heading."""
    for block in document.blocks:
        if block.is_heading:
            text = " ".join(document.text[block.start:block.end].split())
            if text:
                return text[:MAX_TITLE_PREFIX_CHARS]
    return None


@dataclass(frozen=True)
class Chunk:
    """One unit of retrieval; `chunk_id` is its Qdrant point id: uuid5(document, content)."""

    chunk_id: str
    document_id: str
    source_path: str
    text: str
    chunk_index: int
    page_numbers: tuple[int, ...]
    section_title: str | None
    char_start: int
    char_end: int
    content_hash: str
    """Hash of `index_text`: what is embedded, so also the embedding cache key."""
    num_tokens: int
    """Tokens of `index_text`, by the model's tokenizer."""
    language: str | None = None
    """Its document's language: how BM25 analyses it. None for chunks indexed before
    languages were detected (the ledger's document row then has it)."""
    facts: DocumentFacts | None = None
    """None for chunks made before documents' facts were in the payload."""

    @property
    def index_text(self) -> str:
        return with_title(self.text, self.section_title)

    def payload(self) -> dict[str, object]:
        from rag_pipeline.ids import shard_for

        payload: dict[str, object] = {
            "document_id": self.document_id,
            "shard": shard_for(self.document_id),
            "source_path": self.source_path,
            "text": self.text,
            "chunk_index": self.chunk_index,
            "page_numbers": list(self.page_numbers),
            "section_title": self.section_title,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "content_hash": self.content_hash,
            "num_tokens": self.num_tokens,
        }
        if self.language is not None:  # older points have no such key and still match
            payload["language"] = self.language
        if self.facts is not None:
            payload.update(type=self.facts.type, folders=list(self.facts.folders),
                           size_bytes=self.facts.size_bytes, modified_at=self.facts.modified_at,
                           num_pages=self.facts.num_pages, title=self.facts.title,
                           tags=list(self.facts.tags))
        return payload

    @classmethod
    def from_payload(cls, chunk_id: str, payload: dict[str, object]) -> Chunk:
        return cls(
            chunk_id=chunk_id,
            document_id=str(payload["document_id"]),
            source_path=str(payload["source_path"]),
            text=str(payload["text"]),
            chunk_index=int(payload["chunk_index"]),  # type: ignore[arg-type]
            page_numbers=tuple(
                int(p) for p in payload.get("page_numbers") or ()  # type: ignore[union-attr]
            ),
            section_title=payload.get("section_title"),  # type: ignore[arg-type]
            char_start=int(payload["char_start"]),  # type: ignore[arg-type]
            char_end=int(payload["char_end"]),  # type: ignore[arg-type]
            content_hash=str(payload["content_hash"]),
            num_tokens=int(payload["num_tokens"]),  # type: ignore[arg-type]
            language=payload.get("language"),  # type: ignore[arg-type]
            facts=DocumentFacts(
                type=str(payload["type"]),
                folders=tuple(str(f) for f in payload.get("folders") or ()),  # type: ignore[union-attr]
                size_bytes=int(payload.get("size_bytes") or 0),  # type: ignore[arg-type]
                modified_at=int(payload.get("modified_at") or 0),  # type: ignore[arg-type]
                num_pages=payload.get("num_pages"),  # type: ignore[arg-type]
                title=payload.get("title"),  # type: ignore[arg-type]
                tags=tuple(str(t) for t in payload.get("tags") or ()),  # type: ignore[union-attr]
            ) if "type" in payload else None,
        )


@dataclass(frozen=True)
class ChunkedDocument:
    """A cleaned document and its chunks (empty for duplicates)."""

    document: CleanedDocument
    chunks: tuple[Chunk, ...]
