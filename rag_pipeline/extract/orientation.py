"""Scanned pages placed sideways or upside down.

Tesseract reads such a page as noise (in the shared corpus, pages of `ocrmypdf__cardinal.pdf`
turned 180 degrees: 17 % of their words are English words, against 98 % upright). Detecting the
orientation of every scanned page would cost ~1.5 s each here, so it runs only when an English
OCR result looks like noise: Tesseract's orientation detection (`tesseract.detected_rotation`)
says how to turn the page, the page is OCRed again turned, and the better reading is kept.
"""

from __future__ import annotations

import re
from functools import lru_cache

MIN_ENGLISH_SHARE = 0.6
"""Below this share of English words (of 3+ letters), an OCR result is suspect."""
MIN_ENGLISH_CONFIDENCE = 50.0
"""Below this mean word confidence, too: Devanagari read as English gives English-looking
words ("ear", "set") at confidence 33; the shared corpus' English scans read at 74-96, a page
of graphs at 40."""
_WORD = re.compile(r"[A-Za-z]{3,}")


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    from unstructured.nlp.english_words import ENGLISH_WORDS

    return frozenset(ENGLISH_WORDS)


def english_share(text: str) -> float:
    """Share of the words of 3+ letters that are English words (0 when there are none)."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0
    known = _english_words()
    return sum(w in known for w in words) / len(words)
