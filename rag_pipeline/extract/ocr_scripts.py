"""Which installed Tesseract models read a script that Tesseract's detection (`--psm 0`) saw.

A scan has no text to detect a language from before it is read, and reading it as English
gives noise when it is Hindi or Chinese. The script is what can be seen: each script maps to
Tesseract's own model for it (`script/Devanagari`, Debian's `tesseract-ocr-script-deva`) and to
the language models written in it (`hin`, `tesseract-ocr-hin`). Only installed ones are used.
"""

from __future__ import annotations

SCRIPT_MODELS: dict[str, tuple[str, ...]] = {
    "Arabic": ("script/Arabic", "ara", "fas", "urd", "pus", "uig"),
    "Armenian": ("script/Armenian", "hye"),
    "Bengali": ("script/Bengali", "ben", "asm"),
    "Cyrillic": ("script/Cyrillic", "rus", "ukr", "bel", "bul", "mkd", "srp", "kaz", "kir",
                 "mon", "tgk", "tat", "uzb_cyrl", "aze_cyrl"),
    "Devanagari": ("script/Devanagari", "hin", "mar", "nep", "san"),
    "Ethiopic": ("script/Ethiopic", "amh", "tir"),
    "Georgian": ("script/Georgian", "kat"),
    "Greek": ("script/Greek", "ell", "grc"),
    "Gujarati": ("script/Gujarati", "guj"),
    "Gurmukhi": ("script/Gurmukhi", "pan"),
    "Han": ("script/HanS", "script/HanT", "chi_sim", "chi_tra"),
    "Hangul": ("script/Hangul", "kor"),
    "Korean": ("script/Hangul", "kor"),
    "Hebrew": ("script/Hebrew", "heb", "yid"),
    "Japanese": ("script/Japanese", "jpn"),
    "Hiragana": ("script/Japanese", "jpn"),
    "Katakana": ("script/Japanese", "jpn"),
    "Kannada": ("script/Kannada", "kan"),
    "Khmer": ("script/Khmer", "khm"),
    "Lao": ("script/Lao", "lao"),
    "Malayalam": ("script/Malayalam", "mal"),
    "Myanmar": ("script/Myanmar", "mya"),
    "Oriya": ("script/Oriya", "ori"),
    "Sinhala": ("script/Sinhala", "sin"),
    "Tamil": ("script/Tamil", "tam"),
    "Telugu": ("script/Telugu", "tel"),
    "Thai": ("script/Thai", "tha"),
    "Tibetan": ("script/Tibetan", "bod"),
}


def models_for_script(script: str | None, installed: frozenset[str]) -> str | None:
    """Tesseract's `-l` value for a page in `script`: the script's installed models joined with
    "+", or None when none is installed (or the script is Latin, which the configured language
    reads)."""
    found = [model for model in SCRIPT_MODELS.get(script or "", ()) if model in installed]
    return "+".join(found) or None
