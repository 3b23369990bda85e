"""Scanned pages placed sideways or upside down.

Tesseract reads such a page as noise (in the shared corpus, three of the four pages of
`ocrmypdf__cardinal.pdf`: 18 to 43 % of their words are English words, against 98 % upright).
Detecting the orientation of every scanned page would cost ~1.5 s each here, so it runs only
when an English OCR result looks like noise: Tesseract's orientation detection (`--psm 0`)
says how to turn the page, the page is OCRed again turned, and the better reading is kept.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

MIN_ENGLISH_SHARE = 0.6
"""Below this share of English words (of 3+ letters), an OCR result is suspect."""
_DETECTION_DPI = 150
_DETECTION_TIMEOUT_SECONDS = 30
_WORD = re.compile(r"[A-Za-z]{3,}")
_ROTATE = re.compile(r"Rotate:\s*(\d+)")


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


def detected_rotation(page: object, tessdata: str | None) -> int:
    """Clockwise degrees (0, 90, 180, 270) that turn `page` upright, by Tesseract's orientation
    detection; 0 when it cannot tell (no `tesseract` command, no osd data, too little text)."""
    import pymupdf

    command = shutil.which("tesseract")
    if command is None:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "page.png"
        page.get_pixmap(dpi=_DETECTION_DPI,  # type: ignore[attr-defined]
                        colorspace=pymupdf.csGRAY).save(image)
        args = [command, str(image), "stdout", "--psm", "0"]
        if tessdata:
            args += ["--tessdata-dir", tessdata]
        try:
            done = subprocess.run(args, capture_output=True, text=True, check=False,
                                  timeout=_DETECTION_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.debug("orientation detection failed: %s", exc)
            return 0
    found = _ROTATE.search(done.stdout)
    return int(found.group(1)) % 360 if found else 0
