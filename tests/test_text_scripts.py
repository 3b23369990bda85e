"""Text in every script: garbled means broken, not foreign; BM25 finds words in every script."""

from __future__ import annotations

import pytest

from rag_pipeline.analysis import bm25_terms, query_terms, words
from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.cleaning import clean_text
from rag_pipeline.language import UNDETERMINED, detect_language
from rag_pipeline.quality import garbled_reason
from tests.scripts_samples import SAMPLES, mojibake


def test_samples_cover_twenty_scripts() -> None:
    assert len(SAMPLES) >= 20


@pytest.mark.parametrize("script", sorted(SAMPLES))
def test_ordinary_text_in_any_script_is_not_garbled(script: str) -> None:
    text = clean_text(SAMPLES[script])
    assert garbled_reason(text) is None
    assert garbled_reason(clean_text(" ".join([SAMPLES[script]] * 6))) is None


@pytest.mark.parametrize("script", sorted(SAMPLES))
@pytest.mark.parametrize("encoding", ["windows-1252", "latin-1"])
def test_utf8_read_as_a_legacy_encoding_is_mojibake_in_any_script(script: str,
                                                                   encoding: str) -> None:
    broken = mojibake(SAMPLES[script])[encoding]
    # Judged as the chunker sees it: after cleaning (NFKC, control characters removed).
    assert garbled_reason(clean_text(broken)) == "mojibake"


def test_the_usual_english_mojibake_is_caught_after_cleaning() -> None:
    assert garbled_reason(clean_text("The Mona Lisa doesnâ€™t have eyebrows.")) == "mojibake"
    assert garbled_reason(clean_text("CafÃ© crÃ¨me")) == "mojibake"


@pytest.mark.parametrize("text", [
    "acción” y más “comillas” à la française — déjà vu…",
    "informação não são ações; Größe 5 € · 3 ½ ° ± × ™",
    "Los niños están aquí. ¿Qué pasó? ¡Olé! Hà Nội là thủ đô.",
])
def test_accented_latin_next_to_punctuation_is_not_mojibake(text: str) -> None:
    assert garbled_reason(clean_text(text)) is None


@pytest.mark.parametrize(("text", "reason"), [
    ("bad \ufffd char", "replacement character"),
    ("bell \x07 here", "control characters"),
    ("glyphs \ue000\ue001\ue002\ue003 of an unmapped font", "private-use characters"),
    ("#### ░▒▓█ ####", "run of symbols"),
    ("ok ◆ ◇ ● ○ ■ □ ▲ △ ★ ☆ x", "mostly symbols"),
])
def test_broken_text_is_still_caught(text: str, reason: str) -> None:
    assert garbled_reason(text) == reason


# -- language detection ---------------------------------------------------------------------


@pytest.mark.parametrize(("script", "language"), [
    ("cyrillic", "ru"), ("greek", "el"), ("arabic", "ar"), ("hebrew", "he"),
    ("devanagari", "hi"), ("bengali", "bn"), ("tamil", "ta"), ("thai", "th"), ("lao", "lo"),
    ("khmer", "km"), ("burmese", "my"), ("georgian", "ka"), ("armenian", "hy"),
    ("chinese", "zh"), ("japanese", "ja"), ("korean", "ko"), ("vietnamese", "vi"),
])
def test_language_is_detected_in_every_script(script: str, language: str) -> None:
    assert detect_language(SAMPLES[script]) == language


def test_too_little_text_has_no_language() -> None:
    assert detect_language("42 | 17 | 3.5") == UNDETERMINED
    assert detect_language("") == UNDETERMINED


# -- analysis ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("script", "word"), [
    ("chinese", "北京"), ("japanese", "東京"), ("thai", "กรุงเทพมหานคร"), ("lao", "ວຽງຈັນ"),
    ("khmer", "ភ្នំពេញ"), ("burmese", "မြန်မာနိုင်ငံ"), ("korean", "서울특별시는"),
])
def test_scripts_without_spaces_are_cut_into_words(script: str, word: str) -> None:
    found = words(SAMPLES[script])
    assert word in found
    assert len(found) >= 6  # words, not whole clauses


@pytest.mark.parametrize(("script", "word"), [
    ("devanagari", "विशाल"), ("tamil", "தமிழ்நாட்டின்"), ("bengali", "রাজধানী"),
    ("burmese", "ဖြစ်သည်"),
])
def test_combining_marks_stay_inside_their_words(script: str, word: str) -> None:
    assert word in words(SAMPLES[script])


def test_stop_words_and_stemming_follow_the_language() -> None:
    assert bm25_terms("The Runners running", "en") == ["runner", "run"]
    assert bm25_terms("Die Häuser der Stadt", "de") == bm25_terms("das Haus, die Stadt", "de")
    assert bm25_terms("книги и книга", "ru") == ["книг", "книг"]
    assert bm25_terms("Die Häuser", None) == ["die", "häuser"]  # unknown: no stemmer


def test_punctuation_inside_a_word_splits_it_as_before() -> None:
    # As `\w+` did (SciFact's nDCG@10 needs "1,25-dihydroxy" in parts), marks kept.
    assert bm25_terms("The runner's pace: 3.5 km, don't stop", "en") == [
        "runner", "pace", "3", "5", "km", "don", "t", "stop"]
    assert bm25_terms("1,25-dihydroxyvitamin", "en") == ["1", "25", "dihydroxyvitamin"]
    assert words("नई दिल्ली-भारत") == ["नई", "दिल्ली", "भारत"]


def test_a_query_is_analysed_in_every_language_of_the_index() -> None:
    assert query_terms("running", ["en"]) == ["run"]
    assert sorted(query_terms("Häuser running", ["en", "de"])) == sorted(
        ["häuser", "haus", "run", "running"])
    assert query_terms("run run", ["en", "de"]) == ["run", "run"]  # the larger count, not the sum
    assert query_terms("Running", [None]) == query_terms("Running", ["und"]) == ["running"]
    assert query_terms("Running", []) == ["run"]  # an empty index: English


def test_bm25_finds_documents_in_every_script_by_their_words() -> None:
    chunks = [(script, text, detect_language(text)) for script, text in SAMPLES.items()]
    index = BM25Index.build(chunks)
    for script, text, language in chunks:
        terms = bm25_terms(text, language)
        distinctive = [t for t in terms if len(index.postings.get(t, [])) == 1][:3]
        assert distinctive, script
        hits = index.search(" ".join(distinctive), k=1)
        assert hits and hits[0][0] == script, (script, distinctive, hits)


def test_a_german_query_finds_german_inflections_in_a_mixed_index() -> None:
    index = BM25Index.build([
        ("de", "Die alten Häuser der Stadt wurden im Mittelalter gebaut.", "de"),
        ("en", "The old houses of the town were built long ago.", "en"),
    ])
    assert index.search("Haus", k=1)[0][0] == "de"
    assert index.search("house", k=1)[0][0] == "en"


def test_a_rebuild_analyses_a_chunk_again_when_its_language_changed() -> None:
    first = BM25Index.build([("1", "Häuser", "en")])
    again = BM25Index.build([("1", "Häuser", "de")], previous=first)
    assert "haus" in again.postings and "häuser" not in again.postings
