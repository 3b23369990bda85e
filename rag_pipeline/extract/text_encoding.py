"""Decoding plain-text files that are not UTF-8, or failing with a reason, never with mojibake."""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path

from rag_pipeline.extract.errors import ExtractionError

logger = logging.getLogger(__name__)

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".md", ".markdown", ".csv", ".tsv", ".rst", ".org"})
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_C0_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
"""What tells binary content in valid UTF-8: a C1 control there is two bytes of encoded text
(SciFact has abstracts with a few, left by an old Latin-1 round trip), and rejecting UTF-8 for
them decoded the whole file as Windows-1252: mojibake in every other non-ASCII character."""
_MAX_CONTROL_SHARE = 0.001


def _candidates(data: bytes) -> list[str]:
    from charset_normalizer import from_bytes

    guess = from_bytes(data).best()
    return ["utf-8", "cp1252"] + ([guess.encoding] if guess is not None else [])


def detect_text_encoding(path: Path) -> str:
    """The encoding of a plain-text file, tried in this order:
    a byte-order mark; strict UTF-8; Windows-1252 (the usual legacy encoding of Western text,
    a superset of Latin-1's printable range); charset-normalizer's best guess. Raises
    ExtractionError when nothing decodes to text (binary content)."""
    data = path.read_bytes()
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    for encoding in _candidates(data):
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        controls = _C0_CONTROL if encoding == "utf-8" else _CONTROL
        if len(controls.findall(text)) <= _MAX_CONTROL_SHARE * max(len(text), 1):
            if encoding != "utf-8":
                logger.info("%s: not UTF-8, decoded as %s", path.name, encoding)
            return encoding
    raise ExtractionError("cannot decode text file: binary content or an unknown encoding "
                          "(not UTF-8, UTF-16 with BOM or Windows-1252)")
