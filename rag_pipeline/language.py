"""A document's language, detected once from its extracted text.

The language decides how BM25 analyses the document's chunks (stop words, stemmer) and is
recorded in the ledger row and in every chunk's payload. py3langid (97 languages, Burmese,
Khmer, Lao, Amharic, Georgian and Armenian among them) is deterministic: the same text always
gets the same language, so a document's BM25 terms never change between runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

UNDETERMINED = "und"
"""ISO 639's code for "language not determined": too little text, or no confident guess."""
SAMPLE_CHARS = 5000
"""Detection reads this much of a document: enough for a confident guess, cheap on long ones."""
MIN_LETTERS = 10
"""Fewer letters than this (a number table, a caption) tell no language."""
MIN_CONFIDENCE = 0.5


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True,
                                              min_confidence=MIN_CONFIDENCE)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or `UNDETERMINED`."""
    sample = text[:SAMPLE_CHARS]
    if sum(1 for ch in sample if ch.isalpha()) < MIN_LETTERS:
        return UNDETERMINED
    language, _confidence = _identifier().classify(sample)
    return str(language)  # UNDETERMINED below MIN_CONFIDENCE
