"""The `tesseract` command: OCR of a page image, and the page's orientation.

The command, single-threaded, reads a page in about half the CPU time of the Tesseract built
into PyMuPDF (3.0 against 6.5 s for a letter page at 200 dpi here, same language data and
text). It must run with `OMP_THREAD_LIMIT=1`: with its default OpenMP threads it took 22.5 s of
CPU for the same page, busy-waiting, next to the other extraction worker. Its hOCR output keeps
paragraphs, lines and Tesseract's estimate of each line's font size (`x_size`).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from functools import lru_cache

PageBlocks = list[list[tuple[str, float, bool]]]
"""Blocks of (line text, font size in points, all bold) lines, as `pdf._page_blocks` reads them."""

TIMEOUT_SECONDS = 60.0
"""One call at most; a page takes 1-9 s here."""

_XHTML = "{http://www.w3.org/1999/xhtml}"
_LINE_CLASSES = frozenset({"ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"})
_X_SIZE = re.compile(r"x_size ([\d.]+)")
_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_SCRIPT = re.compile(r"Script:\s*(\S+)")
_WORD_CONFIDENCE = re.compile(r"x_wconf (\d+)")


class TesseractError(RuntimeError):
    """The command failed on one image (bad language, unreadable image, time limit)."""


@lru_cache(maxsize=1)
def tesseract_command() -> str | None:
    return shutil.which("tesseract")


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: killed with the extraction worker that started it (a worker stopped at the
    document time limit must not leave its OCR running)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_tesseract(image: bytes, args: list[str], tessdata: str | None) -> str:
    """stdout of `tesseract stdin stdout ARGS` for one image (PNM or PNG bytes)."""
    return _tesseract(["stdin", "stdout"], args, tessdata, image)


def _tesseract(head: list[str], args: list[str], tessdata: str | None, image: bytes) -> str:
    """stdout of `tesseract HEAD [--tessdata-dir TESSDATA] ARGS`, `image` on its stdin."""
    command = tesseract_command()
    if command is None:
        raise TesseractError("the tesseract command is not installed")
    full = [command, *head, *(["--tessdata-dir", tessdata] if tessdata else []), *args]
    try:
        done = subprocess.run(full, input=image, capture_output=True, check=False,
                              timeout=TIMEOUT_SECONDS, preexec_fn=_die_with_parent,
                              env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    except subprocess.TimeoutExpired as exc:
        raise TesseractError(f"tesseract exceeded {TIMEOUT_SECONDS:.0f} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TesseractError(f"tesseract failed: {message[-1] if message else done.returncode}")
    return done.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class OcrReading:
    blocks: PageBlocks
    confidence: float
    """Tesseract's mean word confidence (0-100): how two readings of a page in different
    languages compare, where counting English words cannot."""


def ocr_page(image: bytes, language: str, tessdata: str | None, dpi: int) -> OcrReading:
    """Paragraphs of lines of an image's text (sizes in points at `dpi`), in `language`."""
    hocr = run_tesseract(image, ["-l", language, "--psm", "3", "hocr"], tessdata)
    return parse_hocr(hocr, dpi)


def parse_hocr(hocr: str, dpi: int) -> OcrReading:
    root = ElementTree.fromstring(hocr)
    blocks: PageBlocks = []
    confidences: list[int] = []
    for paragraph in root.iter(f"{_XHTML}p"):
        lines = []
        for line in paragraph.iter(f"{_XHTML}span"):
            if line.get("class") not in _LINE_CLASSES:
                continue
            words = []
            for word in line.iter(f"{_XHTML}span"):
                if word.get("class") != "ocrx_word":
                    continue
                words.append("".join(word.itertext()).strip())
                confidence = _WORD_CONFIDENCE.search(word.get("title", ""))
                if words[-1] and confidence:
                    confidences.append(int(confidence.group(1)))
            text = " ".join(w for w in words if w)
            if not text:
                continue
            size = _X_SIZE.search(line.get("title", ""))
            lines.append((text, float(size.group(1)) * 72 / dpi if size else 0.0, False))
        if lines:
            blocks.append(lines)
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return OcrReading(blocks, mean)


@dataclass(frozen=True)
class Orientation:
    rotation: int
    """Clockwise degrees (0, 90, 180, 270) that turn the image upright."""
    script: str | None
    """The writing system Tesseract sees ("Latin", "Cyrillic", "Han", "Devanagari"...)."""


def detected_orientation(image: bytes, tessdata: str | None) -> Orientation:
    """Tesseract's orientation and script detection (`--psm 0`); rotation 0 and no script when
    it cannot tell (too little text, no osd data)."""
    try:
        output = run_tesseract(image, ["--psm", "0"], tessdata)
    except TesseractError:
        return Orientation(0, None)
    rotation, script = _ROTATE.search(output), _SCRIPT.search(output)
    return Orientation(int(rotation.group(1)) % 360 if rotation else 0,
                       script.group(1) if script else None)


@lru_cache(maxsize=4)
def installed_languages(tessdata: str | None) -> frozenset[str]:
    """The language and script models Tesseract has ("eng", "rus", "script/Cyrillic"...)."""
    try:
        listing = _tesseract(["--list-langs"], [], tessdata, b"")
    except TesseractError:
        return frozenset()
    return frozenset(line.strip() for line in listing.splitlines()[1:] if line.strip())
