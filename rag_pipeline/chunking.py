"""Structure-aware chunking sized by the embedding model's own tokenizer.

- A chunk never holds more tokens than the model accepts, so nothing is silently truncated.
- A chunk does not straddle a section heading: each heading starts a new chunk.
- Tables and code are cut between rows/lines only, and kept whole when they fit.
- Prose is packed sentence by sentence; consecutive chunks of a section share up to
  `overlap_tokens` of trailing sentences.
- A chunk is indexed and embedded with its section title in front (`records.with_title`), and
  the title's tokens count towards the limit.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from dataclasses import dataclass

from rag_pipeline.ids import chunk_id_for, text_hash
from rag_pipeline.records import (
    Block,
    Chunk,
    CleanedDocument,
    DocumentFacts,
    first_heading,
    with_title,
)
from rag_pipeline.tokenization import ModelTokenizer

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=\S)")


@dataclass(frozen=True)
class ChunkingConfig:
    chunk_tokens: int = 200
    overlap_tokens: int = 32


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    block: Block


class _TokenIndex:
    """Token counts of any span of one text, from a single tokenization of the whole text."""

    def __init__(self, offsets: list[tuple[int, int]], words: list[int | None] | None = None,
                 ) -> None:
        self.starts = [s for s, _ in offsets]
        self.ends = [e for _, e in offsets]
        self.words = words

    def count(self, start: int, end: int) -> int:
        return bisect_left(self.starts, end) - bisect_left(self.starts, start)

    def whole_words(self, start: int, end: int) -> int | None:
        """The span's token count when it holds whole words only (`words_tokenize_alone`: the
        count of the span tokenized alone), else None."""
        first, last = bisect_left(self.starts, start), bisect_left(self.starts, end)
        words = self.words
        if words is None or first == last or self.ends[last - 1] > end:
            return None
        if first > 0 and (self.ends[first - 1] > start or words[first - 1] == words[first]):
            return None  # a token or word runs into the span from before it
        if last < len(words) and words[last] == words[last - 1]:
            return None  # the span's last word goes on after it
        return last - first

    def windows(self, start: int, end: int, size: int) -> list[tuple[int, int]]:
        first, last = bisect_left(self.starts, start), bisect_left(self.starts, end)
        return [
            (self.starts[i], min(self.ends[min(i + size, last) - 1], end))
            for i in range(first, last, size)
        ]


class Chunker:
    def __init__(self, tokenizer: ModelTokenizer, config: ChunkingConfig) -> None:
        if config.chunk_tokens < 8:
            raise ValueError(f"chunk_tokens must be at least 8, got {config.chunk_tokens}")
        if config.chunk_tokens > tokenizer.max_content_tokens:
            logger.warning(
                "chunk_tokens=%d exceeds what the model accepts (%d + %d special tokens); "
                "using %d", config.chunk_tokens, tokenizer.max_content_tokens,
                tokenizer.num_special_tokens, tokenizer.max_content_tokens,
            )
        self.tokenizer = tokenizer
        self.size = min(config.chunk_tokens, tokenizer.max_content_tokens)
        self.overlap = max(0, min(config.overlap_tokens, self.size // 2))

    # -- units ---------------------------------------------------------------------------------

    def _pieces(self, text: str, block: Block) -> list[tuple[int, int]]:
        """Sub-spans of a block: lines for tables/code, sentences for prose."""
        pattern = re.compile(r"\n") if block.keeps_lines else _SENTENCE_END
        pieces, start = [], block.start
        for match in pattern.finditer(text, block.start, block.end):
            pieces.append((start, match.start()))
            start = match.end()
        pieces.append((start, block.end))
        return [(a, b) for a, b in pieces if b > a]

    def _units(self, text: str, tokens: _TokenIndex, block: Block, size: int) -> list[_Unit]:
        if block.keeps_lines and tokens.count(block.start, block.end) <= size:
            return [_Unit(block.start, block.end, block)]  # a table that fits stays whole
        units = []
        for start, end in self._pieces(text, block):
            if tokens.count(start, end) <= size:
                units.append(_Unit(start, end, block))
            else:  # a sentence or row longer than a chunk: cut at token boundaries
                units.extend(_Unit(a, b, block) for a, b in tokens.windows(start, end, size))
        return units

    # -- packing -------------------------------------------------------------------------------

    def _sections(self, document: CleanedDocument) -> list[list[Block]]:
        sections: list[list[Block]] = []
        for block in document.blocks:
            if block.is_heading or not sections:
                # Consecutive headings (chapter, then section) open one section together.
                if sections and all(b.is_heading for b in sections[-1]):
                    sections[-1].append(block)
                else:
                    sections.append([block])
            else:
                sections[-1].append(block)
        return sections

    def _pack(self, units: list[_Unit], tokens: _TokenIndex, size: int) -> list[list[_Unit]]:
        groups: list[list[_Unit]] = []
        current: list[_Unit] = []
        for unit in units:
            if current and tokens.count(current[0].start, unit.end) > size:
                groups.append(current)
                carry: list[_Unit] = []
                for previous in reversed(current[1:]):
                    if previous.block.keeps_lines or (
                        tokens.count(previous.start, current[-1].end) > self.overlap
                    ):
                        break
                    carry.insert(0, previous)
                if carry and tokens.count(carry[0].start, unit.end) > size:
                    carry = []
                current = [*carry, unit]
            else:
                current.append(unit)
        if current:
            groups.append(current)
        return groups

    def _spans(self, document: CleanedDocument,
               tokens: _TokenIndex) -> list[tuple[int, int, list[_Unit]]]:
        """Chunk spans of a document, from its tokens (tokenized once per batch)."""
        text = document.text
        sections = self._sections(document)
        title_tokens = self._title_tokens({s[-1].section_title for s in sections})
        spans = []
        for section in sections:
            size = self.size - title_tokens[section[-1].section_title]
            units = [u for block in section for u in self._units(text, tokens, block, size)]
            for group in self._pack(units, tokens, size):
                spans.append((group[0].start, group[-1].end, group))
        return spans

    def _title_tokens(self, titles: set[str | None]) -> dict[str | None, int]:
        """Tokens each section title adds in front of a chunk (`with_title`), at most half of
        a chunk: a longer title leaves too little room, so it is counted but cut by windows."""
        prefixed = {t: with_title("x", t) for t in titles}
        counted = [t for t in titles if prefixed[t] != "x"]
        counts = self.tokenizer.count([prefixed[t] for t in counted])
        result: dict[str | None, int] = dict.fromkeys(titles, 0)
        for title, count in zip(counted, counts, strict=True):
            result[title] = min(count - 1, self.size // 2)
        return result

    def chunk(self, document: CleanedDocument) -> tuple[Chunk, ...]:
        result = self.chunk_many([document])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def chunk_many(self, documents: list[CleanedDocument],
                   ) -> list[tuple[Chunk, ...] | Exception]:
        """Chunks of each document, or the exception that document raised (one document's
        bad text must not cost the others). The tokenizer runs over all documents at once."""
        exact_words = self.tokenizer.words_tokenize_alone
        planned: list[list[tuple[int, int, list[_Unit], str]] | Exception] = []
        known: list[int | None] = []  # per planned chunk: its count of whole-word span tokens
        for document, (offsets, words) in zip(
                documents, self.tokenizer.spans_many([d.text for d in documents]), strict=True):
            try:
                tokens = _TokenIndex(offsets, words if exact_words else None)
                plan = [(a, b, units, with_title(document.text[a:b],
                                                 units[-1].block.section_title))
                        for a, b, units in self._spans(document, tokens)]
            except Exception as exc:
                planned.append(exc)
                continue
            planned.append(plan)
            known.extend(tokens.whole_words(a, b) for a, b, *_ in plan)
        counts = iter(self._index_text_counts(
            [(b - a, index_text) for plan in planned if not isinstance(plan, Exception)
             for a, b, _units, index_text in plan], known))
        results: list[tuple[Chunk, ...] | Exception] = []
        for document, plan in zip(documents, planned, strict=True):
            if isinstance(plan, Exception):
                results.append(plan)
                continue
            plan_counts = [next(counts) for _ in plan]
            try:
                results.append(self._finish(document, plan, plan_counts))
            except Exception as exc:
                results.append(exc)
        return results

    def _index_text_counts(self, items: list[tuple[int, str]],
                           known: list[int | None]) -> list[int]:
        """Tokens of each planned chunk's index text, from (span length, index text). A span of
        whole words has the tokens it has in its document, plus its title's when `with_title`
        put one in front (the span is the index text's end, and what comes before it ends in
        whitespace); the others (a span cut inside a word, a tokenizer without whole words) are
        tokenized again."""
        def title(length: int, index_text: str) -> str | None:
            return index_text[: len(index_text) - length] if len(index_text) > length else None

        titles = sorted({t for (length, text), n in zip(items, known, strict=True)
                         if n is not None and (t := title(length, text)) is not None})
        title_counts = dict(zip(titles, self.tokenizer.count(titles), strict=True))
        again = iter(self.tokenizer.count(
            [text for (_, text), n in zip(items, known, strict=True) if n is None]))
        counts = []
        for (length, text), n in zip(items, known, strict=True):
            if n is None:
                counts.append(next(again))
            else:
                t = title(length, text)
                counts.append(n + (title_counts[t] if t is not None else 0))
        return counts

    def _finish(self, document: CleanedDocument, plan: list[tuple[int, int, list[_Unit], str]],
                counts: list[int]) -> tuple[Chunk, ...]:
        text = document.text
        final: list[tuple[int, int, list[_Unit], str, int]] = []
        for (start, end, units, index_text), count in zip(plan, counts, strict=True):
            if count <= self.size:
                final.append((start, end, units, index_text, count))
                continue
            # Rare: tokenizing the span alone differs from the in-context count. Re-cut it.
            title = units[-1].block.section_title
            size = max(8, self.size - self._title_tokens({title})[title] - 2)
            local = _TokenIndex(self.tokenizer.offsets(text[start:end]))
            pieces = [(start + a, start + b) for a, b in local.windows(0, end - start, size)]
            piece_texts = [with_title(text[a:b], title) for a, b in pieces]
            final.extend((a, b, units, t, n) for (a, b), t, n in zip(
                pieces, piece_texts, self.tokenizer.count(piece_texts), strict=True))
        chunks: list[Chunk] = []
        seen: set[str] = set()
        source = document.source
        facts = DocumentFacts.of(source, document.num_pages, first_heading(document))
        for start, end, units, index_text, count in final:
            chunk_text = text[start:end]
            if not chunk_text.strip():
                continue
            content_hash = text_hash(index_text)
            if content_hash in seen:  # the same text twice in one document is one point
                continue
            seen.add(content_hash)
            pages = sorted({u.block.page_number for u in units if u.block.page_number is not None})
            chunks.append(
                Chunk(
                    chunk_id=chunk_id_for(source.document_id, content_hash),
                    document_id=source.document_id,
                    source_path=source.relative_path,
                    text=chunk_text,
                    chunk_index=len(chunks),
                    page_numbers=tuple(pages),
                    section_title=units[-1].block.section_title,
                    char_start=start,
                    char_end=end,
                    content_hash=content_hash,
                    num_tokens=count,
                    language=document.language,
                    facts=facts,
                )
            )
        return tuple(chunks)
