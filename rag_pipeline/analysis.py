"""BM25 text analysis for every script: words by Unicode segmentation, then stop words and a
stemmer chosen by language.

Why ICU: scripts written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Burmese) have no
boundaries a regular expression can find; ICU's word break iterator (UAX #29, with dictionaries
for those scripts) finds them. `\\w+` fails even spaced scripts: it does not match combining
marks, so it cut Hindi and Tamil words at their vowel signs. Punctuation inside a word splits it
("3.14", "1,25-dihydroxy", "don't"), as `\\w+` did and UAX #29 does not: on SciFact, keeping
them whole cost 0.005 nDCG@10.

A chunk is analysed with its document's language. A query is too short to tell its language
reliably, so it is analysed with every language the index holds and its terms are the union:
a German word in a query then meets German documents stemmed as German.

`bm25_terms` is the whole analysis: an application that queries the index without this package
tokenizes its query with it.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import regex

from rag_pipeline.language import UNDETERMINED

ENGLISH = "en"
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
"""Lucene's default English stop words (what Anserini's BM25 baselines use)."""

SNOWBALL_STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "porter", "eo": "esperanto", "es": "spanish", "et": "estonian",
    "eu": "basque", "fa": "persian", "fi": "finnish", "fr": "french", "ga": "irish",
    "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "nb": "norwegian", "ne": "nepali", "nl": "dutch", "nn": "norwegian",
    "no": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
"""ISO 639-1 code -> PyStemmer's Snowball algorithm. English keeps Porter's original
algorithm, as Lucene's EnglishAnalyzer does (and as this index always did)."""

_WORD_STATUS_MIN = 100
"""ICU rule status of a segment that is a word (numbers 100+, letters 200+, kana 300+,
ideographs 400+); below it are spaces, punctuation and symbols."""
_WORD_PART = regex.compile(r"[\p{L}\p{M}\p{N}_]+")
"""The parts of an ICU word between its punctuation; marks included, unlike `\\w`."""

Analyzer = Callable[[list[str]], list[str]]


_local = threading.local()


def _word_breaker() -> Any:
    """One ICU break iterator per thread (they hold the text they iterate)."""
    breaker = getattr(_local, "breaker", None)
    if breaker is None:
        import icu

        breaker = _local.breaker = icu.BreakIterator.createWordInstance(icu.Locale.getRoot())
    return breaker


def words(text: str) -> list[str]:
    """The text's words, NFKC-normalised and case-folded, in order."""
    text = unicodedata.normalize("NFKC", text).casefold()
    breaker = _word_breaker()
    breaker.setText(text)
    status = breaker.getRuleStatus
    found: list[str] = []
    append, extend, parts = found.append, found.extend, _WORD_PART.findall
    start = breaker.first()
    for end in breaker:
        if status() >= _WORD_STATUS_MIN:
            word = text[start:end]
            if word.isalnum():  # most words: no punctuation, no combining marks
                append(word)
            else:
                extend(parts(word))
        start = end
    return found


@cache
def stop_words(language: str) -> frozenset[str]:
    if language == ENGLISH:
        return ENGLISH_STOP_WORDS
    from stop_words import LANGUAGE_MAPPING, get_stop_words

    if language not in LANGUAGE_MAPPING:
        return frozenset()
    return frozenset(unicodedata.normalize("NFKC", w).casefold()
                     for w in get_stop_words(language))


@cache
def analyzer(language: str | None) -> Analyzer:
    """Stop words out, then the language's stemmer; a language without either keeps its words
    as they are (still segmented, case-folded and normalised)."""
    language = language or UNDETERMINED
    stops = stop_words(language)
    algorithm = SNOWBALL_STEMMERS.get(language)
    stem = None
    if algorithm is not None:
        import Stemmer

        stem = Stemmer.Stemmer(algorithm).stemWords

    def analyse(tokens: list[str]) -> list[str]:
        kept = [t for t in tokens if t not in stops]
        if stem is None:
            return kept
        stemmed = stem(kept)
        # Porter stems a lone "s" (of "runner's") to nothing.
        return [t for t in stemmed if t] if "" in stemmed else stemmed

    return analyse


def bm25_terms(text: str, language: str | None) -> list[str]:
    """The BM25 terms of a chunk's text in its document's language (a term per occurrence)."""
    return analyzer(language)(words(text))


def query_terms(query: str, languages: Iterable[str | None]) -> list[str]:
    """A query's terms under every language of the index: each term as often as the analysis
    that repeats it most (for a one-language index, exactly `bm25_terms`)."""
    tokens = words(query)
    # A chunk without a language was analysed as undetermined; an empty index as English.
    analyses = [analyzer(language)(tokens)
                for language in sorted({language or UNDETERMINED for language in languages})
                or [ENGLISH]]
    if len(analyses) == 1:
        return analyses[0]
    merged: Counter[str] = Counter()
    for terms in analyses:
        merged |= Counter(terms)  # union of multisets: the larger count of each term
    return list(merged.elements())
