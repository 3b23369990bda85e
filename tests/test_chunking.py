from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rag_pipeline.chunking import Chunker, ChunkingConfig
from rag_pipeline.cleaning import clean_document
from rag_pipeline.ids import chunk_id_for, document_id_for, text_hash
from rag_pipeline.models import EmbeddingModelSpec
from rag_pipeline.records import Block, CleanedDocument, Element, ExtractedDocument, SourceFile
from rag_pipeline.tokenization import ModelTokenizer

SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank at dawn. "


def prose(n: int) -> str:
    """n distinct sentences (identical chunks would be de-duplicated)."""
    return " ".join(f"Sentence {i} says the fox jumped over dog number {i}." for i in range(n))


def cleaned(elements: list[Element], name: str = "doc.md"):
    source = SourceFile(Path(name), name, document_id_for(name), "00", 1, 1)
    return clean_document(ExtractedDocument(source, "h", tuple(elements)))


def test_no_chunk_exceeds_the_model_limit(tokenizer: ModelTokenizer) -> None:
    # One enormous paragraph, a very long "word" and a huge table: all must be cut.
    elements = [
        Element(prose(600), "NarrativeText"),
        Element("x" * 5000, "NarrativeText"),
        Element("\n".join(f"row {i} | value {i} | {SENTENCE}" for i in range(200)), "Table"),
    ]
    chunker = Chunker(tokenizer, ChunkingConfig(chunk_tokens=10_000, overlap_tokens=0))
    assert chunker.size == tokenizer.max_content_tokens == 254
    chunks = chunker.chunk(cleaned(elements))
    counts = tokenizer.count([c.index_text for c in chunks])
    assert max(counts) <= 254
    assert [c.num_tokens for c in chunks] == counts


def test_configured_size_is_respected(tokenizer: ModelTokenizer) -> None:
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=64, overlap_tokens=0)).chunk(
        cleaned([Element(prose(60), "NarrativeText")])
    )
    assert len(chunks) > 5
    assert max(tokenizer.count([c.text for c in chunks])) <= 64


def test_chunks_do_not_straddle_headings(tokenizer: ModelTokenizer) -> None:
    document = cleaned([
        Element("Alpha", "Title"), Element("Alpha body text.", "NarrativeText"),
        Element("Beta", "Title"), Element("Beta body text.", "NarrativeText"),
    ])
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=200)).chunk(document)
    assert [c.text for c in chunks] == ["Alpha\n\nAlpha body text.", "Beta\n\nBeta body text."]
    assert [c.section_title for c in chunks] == ["Alpha", "Beta"]


def test_a_table_that_fits_is_not_cut(tokenizer: ModelTokenizer) -> None:
    table = "\n".join(f"item {i} | {i * 3} euro" for i in range(12))
    document = cleaned([Element(SENTENCE * 6, "NarrativeText"), Element(table, "Table")])
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=120, overlap_tokens=0)).chunk(document)
    assert any(c.text == table for c in chunks)


def test_a_big_table_is_cut_between_rows(tokenizer: ModelTokenizer) -> None:
    rows = [f"row {i} | alpha beta gamma delta | {i}" for i in range(60)]
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=80, overlap_tokens=0)).chunk(
        cleaned([Element("\n".join(rows), "Table")])
    )
    assert len(chunks) > 1
    for chunk in chunks:
        assert all(line in rows for line in chunk.text.split("\n"))


def test_overlap_repeats_trailing_sentences(tokenizer: ModelTokenizer) -> None:
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(40)]
    document = cleaned([Element(" ".join(sentences), "NarrativeText")])
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=60, overlap_tokens=20)).chunk(document)
    assert len(chunks) > 2
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start < previous.char_end  # they share text
    no_overlap = Chunker(tokenizer, ChunkingConfig(chunk_tokens=60, overlap_tokens=0))
    assert len(no_overlap.chunk(document)) < len(chunks)


def test_offsets_ids_and_metadata(tokenizer: ModelTokenizer) -> None:
    document = cleaned([Element("Heading", "Title", 3), Element(prose(40), "NarrativeText", 4)])
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=100)).chunk(document)
    for index, chunk in enumerate(chunks):
        assert chunk.chunk_index == index
        assert document.text[chunk.char_start:chunk.char_end] == chunk.text
        assert chunk.content_hash == text_hash(chunk.index_text)
        assert chunk.chunk_id == chunk_id_for(document.source.document_id, chunk.content_hash)
        assert chunk.source_path == "doc.md"
        assert chunk.section_title == "Heading"
    assert chunks[0].page_numbers == (3, 4)
    assert chunks[0].index_text == chunks[0].text  # it starts with its heading
    assert all(c.index_text == f"Heading\n{c.text}" for c in chunks[1:])


def test_section_title_is_indexed_with_every_chunk_within_the_limit(
        tokenizer: ModelTokenizer) -> None:
    title = "Mitochondrial dynamics in neuronal cells under oxidative stress"
    document = cleaned([Element(title, "Title"), Element(prose(80), "NarrativeText")])
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=64, overlap_tokens=0)).chunk(document)
    assert len(chunks) > 3
    assert all(c.index_text.startswith(title) for c in chunks)
    counts = tokenizer.count([c.index_text for c in chunks])
    assert max(counts) <= 64
    assert [c.num_tokens for c in chunks] == counts


def test_token_counts_of_whole_word_spans_are_exact_without_tokenizing_them_again(
        model_spec: EmbeddingModelSpec) -> None:
    counted: list[str] = []

    class CountingTokenizer(ModelTokenizer):
        def count(self, texts: list[str]) -> list[int]:
            counted.extend(texts)
            return super().count(texts)

    tokenizer = CountingTokenizer(model_spec.tokenizer_folder, model_spec.max_seq_length)
    assert tokenizer.words_tokenize_alone  # BERT's tokenizer
    tricky = ("Crème brûlée, naïve café — “quoted” (parenthesised) text; e-mail me@example.org! "
              "東京の天気は晴れです。 Ünïcödé x² ½ ﬁne ligatures... ")
    document = cleaned([
        Element("Pâtisserie: an overview", "Title"),
        Element(" ".join(f"{tricky}Sentence {i}." for i in range(60)), "NarrativeText"),
        Element("Supercalifragilistic" * 40, "NarrativeText"),  # one word cut into windows
        Element("Tables", "Title"),
        Element("\n".join(f"row {i} | {tricky}" for i in range(40)), "Table"),
    ])
    chunks = Chunker(tokenizer, ChunkingConfig(chunk_tokens=96, overlap_tokens=8)).chunk(document)
    recounted = len(counted)
    exact = ModelTokenizer(model_spec.tokenizer_folder, model_spec.max_seq_length).count(
        [c.index_text for c in chunks])
    assert [c.num_tokens for c in chunks] == exact
    assert len(chunks) > 30
    # titles, the windows of the long word and the rare re-cut spans only
    assert recounted < len(chunks) / 3


def test_ids_are_stable_and_distinct_across_documents(tokenizer: ModelTokenizer) -> None:
    chunker = Chunker(tokenizer, ChunkingConfig())
    elements = [Element("Same text in two documents.", "NarrativeText")]
    first = chunker.chunk(cleaned(elements, "a.md"))
    again = chunker.chunk(cleaned(elements, "a.md"))
    other = chunker.chunk(cleaned(elements, "b.md"))
    assert first[0].chunk_id == again[0].chunk_id
    assert first[0].chunk_id != other[0].chunk_id
    assert first[0].content_hash == other[0].content_hash


def test_repeated_text_in_one_document_is_one_point(tokenizer: ModelTokenizer) -> None:
    document = cleaned([Element("A", "Title"), Element("Same.", "NarrativeText"),
                        Element("A", "Title"), Element("Same.", "NarrativeText")])
    chunks = Chunker(tokenizer, ChunkingConfig()).chunk(document)
    assert len({c.chunk_id for c in chunks}) == len(chunks) == 1


def test_too_small_chunk_size_is_rejected(tokenizer: ModelTokenizer) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        Chunker(tokenizer, ChunkingConfig(chunk_tokens=4))


def test_chunk_many_matches_chunk_and_isolates_a_failing_document(
        tokenizer: ModelTokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    chunker = Chunker(tokenizer, ChunkingConfig(chunk_tokens=60, overlap_tokens=10))
    documents = [cleaned([Element(f"Part {n}", "Title"), Element(prose(40 + n), "NarrativeText")],
                         f"doc{n}.md") for n in range(3)]
    one_by_one = [chunker.chunk(d) for d in documents]
    assert chunker.chunk_many(documents) == one_by_one
    real_sections = Chunker._sections

    def broken_for_doc1(self: Chunker, document: CleanedDocument) -> list[list[Block]]:
        if document.source.relative_path == "doc1.md":
            raise ValueError("bad text")
        return real_sections(self, document)

    monkeypatch.setattr(Chunker, "_sections", broken_for_doc1)
    results = chunker.chunk_many(documents)
    assert isinstance(results[1], ValueError)
    assert [results[0], results[2]] == [one_by_one[0], one_by_one[2]]
