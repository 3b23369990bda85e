"""Tell the spaCy model which texts unstructured is about to classify, so it can process them in
batches (`TagWhereRead.expect`).

- Plain text (and the text parts of emails): `partition_text` splits the file into paragraphs
  before it classifies them one by one; the split is announced. Short plain-text files
  extracted as a group are split ahead, all together (`prepare_plain_text_files`).
- HTML (and Markdown, EPUB, RST and Org, which unstructured turns into HTML): before the real
  walk over the parsed page, a dry walk collects the texts the walk will classify, without
  classifying them. The dry walk costs a fraction of what batching saves.

Either way, what unstructured produces does not change: a text is looked up by its exact value,
and a text that was not announced is processed alone. The 488 non-PDF files of the shared corpus
partition 1.54x faster (141.6 s -> 92.2 s; War and Peace as plain text 2.2x), and no element of
any file changes: `python benchmarks/bench_spacy.py ../shared/data/corpus`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag_pipeline.extract.spacy_model import TagWhereRead, use_packaged_spacy_model
from rag_pipeline.extract.text_encoding import detect_text_encoding

logger = logging.getLogger(__name__)

_dry_walk = threading.local()
"""`texts`: the list a dry walk of an HTML page collects into (absent outside one)."""


def _model() -> TagWhereRead | None:
    from unstructured.nlp import tokenize

    model = tokenize._get_nlp()
    return model if isinstance(model, TagWhereRead) else None


def announce_texts_to_classify() -> None:
    _announce_paragraphs()
    _announce_html_texts()


_split_paragraphs: Callable[[str], list[str]] | None = None
"""unstructured's own paragraph split, kept before it is wrapped."""
_PLAIN_TEXT = frozenset({".txt", ".text"})


def prepare_plain_text_files(paths: Sequence[Path]) -> None:
    """Process the paragraphs of several plain-text files together, before each is
    partitioned: split as `partition_text` splits them, with unstructured's own functions.
    A file that cannot be read here is left to its partitioning (which reports why); texts
    that come out differently are only processed alone, so the elements never change."""
    from unstructured.cleaners.core import auto_paragraph_grouper
    from unstructured.file_utils.encoding import read_txt_file

    use_packaged_spacy_model()  # never unstructured's own loader, which downloads
    model = _model()
    if model is None or _split_paragraphs is None:
        return
    texts: list[str] = []
    for path in paths:
        if path.suffix.lower() not in _PLAIN_TEXT:
            continue
        try:
            _, file_text = read_txt_file(filename=str(path),
                                         encoding=detect_text_encoding(path))
            paragraphs = _split_paragraphs(auto_paragraph_grouper(file_text))
        except Exception:  # reported by the file's own partitioning
            continue
        texts.extend(stripped for p in paragraphs if (stripped := p.strip()))
    model.prepare(texts)


def forget_prepared_texts() -> None:
    if (model := _model()) is not None:
        model.forget_prepared()


def _announce_paragraphs() -> None:
    from unstructured.partition import text as text_partitioner

    global _split_paragraphs
    split: Callable[[str], list[str]] | None = getattr(
        text_partitioner, "_split_by_paragraph", None)
    if split is None:  # another unstructured: its texts are processed one at a time
        logger.debug("unstructured has no _split_by_paragraph: paragraphs not announced")
        return
    _split_paragraphs = split

    def split_and_announce(file_text: str) -> list[str]:
        assert split is not None
        paragraphs = split(file_text)
        if (model := _model()) is not None:
            # partition_text classifies each non-empty paragraph, stripped.
            model.expect([stripped for p in paragraphs if (stripped := p.strip())])
        return paragraphs

    text_partitioner._split_by_paragraph = split_and_announce


def _announce_html_texts() -> None:
    from unstructured.documents.elements import Text
    from unstructured.partition.html import parser
    from unstructured.partition.html import partition as html_partitioner
    from unstructured.partition.text_type import (
        is_bulleted_text,
        is_email_address,
        is_us_city_state_zip,
    )

    partitioner = getattr(html_partitioner, "_HtmlPartitioner", None)
    derive = getattr(parser, "derive_element_type_from_text", None)
    walk = getattr(partitioner, "_iter_elements", None)
    if derive is None or walk is None:
        logger.debug("unstructured's HTML partitioner changed: HTML texts not announced")
        return

    def derive_or_collect(text: str) -> Any:
        collected: list[str] | None = getattr(_dry_walk, "texts", None)
        if collected is None:
            return derive(text)
        # The texts derive_element_type_from_text would hand to the model.
        if not (is_bulleted_text(text) or is_us_city_state_zip(text)
                or is_email_address(text) or len(text) < 2):
            collected.append(text)
        return Text

    def walk_announced(self: Any) -> Iterator[Any]:
        model = _model()
        options = self._opts
        if (model is not None and options.html_parser_version == "v1"
                and (options.html_text or "").strip()):
            _dry_walk.texts = []
            try:
                for _ in self._main.iter_elements():
                    pass
                model.expect(_dry_walk.texts)
            except Exception:  # the real walk below raises it again, or succeeds
                logger.debug("dry walk failed; HTML texts not announced", exc_info=True)
            finally:
                del _dry_walk.texts
        yield from walk(self)

    parser.derive_element_type_from_text = derive_or_collect
    partitioner._iter_elements = walk_announced
