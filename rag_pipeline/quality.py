"""Quality checks on chunks, embeddings and indexes: pure functions, one property each.

Each returns a CheckOutcome whose metadata explains a failure (counts and the worst offenders
with document and chunk ids). The Dagster layer turns them into AssetCheckResults.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import regex

from rag_pipeline.records import Chunk, ChunkedDocument
from rag_pipeline.settings import QualityThresholds

_WORST = 5

# Garbled means broken, not foreign: text is judged by Unicode categories, in which letters,
# combining marks (the vowel signs of Hindi, Tamil, Burmese...) and digits of every script
# are letters, and punctuation of every script is punctuation.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ODD = r"[[\p{So}\p{Sm}\p{Sk}\p{Co}\p{Cn}\p{Cs}]--[\x00-\xff\u20ac\u2122\u2116\u2103]]"
"""Symbols (other than ASCII and Latin-1 ones, €, ™, №, ℃), private-use, unassigned and
surrogate code points: what a broken font map or a wrong decoding leaves behind."""
_MAYBE_ODD = regex.compile(r"[^\x00-\xff\p{L}\p{M}\p{N}\p{P}\p{Z}\p{Cf}\p{Sc}]")
"""Any character `_ODD` might match: most text has none, and skips the slower checks (the
set difference in `_ODD` costs ~6x this class)."""
_SYMBOL_RUN = regex.compile(f"{_ODD}{{4,}}", regex.V1)
_ODD_CHAR = regex.compile(_ODD, regex.V1)
_PRIVATE_USE_RUN = regex.compile(r"\p{Co}{3,}")
"""Glyphs of a PDF font without a Unicode map come out as private-use code points."""
_LETTER = regex.compile(r"[\p{L}\p{M}\p{N}]")


def _continuation_forms() -> list[str]:
    """What a UTF-8 continuation byte (0x80-0xBF) becomes when read as Windows-1252 (its five
    undefined bytes as Latin-1), as read and after cleaning's NFKC (the cedilla U+00B8 becomes a
    space and U+0327, "™" becomes "TM"); not the forms that ordinary text has after an accented
    letter (a space, "o")."""
    forms: set[str] = set()
    for byte in range(0x80, 0xC0):
        char = bytes([byte]).decode("cp1252", errors="ignore") or chr(byte)
        for form in (char, unicodedata.normalize("NFKC", char)):
            if form.strip() and not (len(form) == 1 and form.isascii() and form.isalnum()):
                forms.add(form)
    return sorted(forms, key=len, reverse=True)


_CONTINUATION = "(?:" + "|".join(regex.escape(f) for f in _continuation_forms()) + ")"
_MOJIBAKE_HINT = regex.compile("[\u00c2-\u00f4]" + _CONTINUATION)
"""A UTF-8 lead byte read as Windows-1252 or Latin-1 (Â..ô) followed by what a continuation
byte becomes there: every UTF-8 character of two or more bytes read so has one. Text has them
rarely ("acción”"), mojibake at nearly every character."""
_MOJIBAKE_PAIRS = 3
_MOJIBAKE_PAIR_SHARE = 0.03
"""This many pairs, at least this share of the letters: mojibake even where ftfy cannot decode
it back (cleaning has dropped the C1 control characters that Latin-1 left in it)."""
_PUNCTUATION_MOJIBAKE = regex.compile("\u00e2\u20ac" + _CONTINUATION)
""""â€" and one more: a quote, dash or bullet (U+2000-U+203F) read as Windows-1252, the most
common mojibake of all ("doesnâ€™t", "doesnâ€TMt" after NFKC); one is enough."""


@lru_cache(maxsize=1)
def _ftfy() -> Any:
    import ftfy

    return ftfy


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, object] = field(default_factory=dict)


def _offender(chunk: Chunk, **extra: object) -> dict[str, object]:
    return {"document": chunk.source_path, "document_id": chunk.document_id,
            "chunk_id": chunk.chunk_id, "chunk_index": chunk.chunk_index,
            "text": chunk.text[:80], **extra}


def _share_check(name: str, bad: list[tuple[Chunk, dict]], total: int, limit: float,
                 what: str, min_total: int) -> CheckOutcome:
    share = len(bad) / total if total else 0.0
    too_small = total < min_total
    return CheckOutcome(
        passed=share <= limit or too_small,
        description=f"{len(bad)} of {total} chunks {what} ({share:.1%}; limit {limit:.0%})"
        + (f"; batch under {min_total} chunks, not judged" if too_small else ""),
        metadata={f"num_{name}": len(bad), "num_chunks": total, f"{name}_share": round(share, 4),
                  "limit": limit, "worst": [_offender(c, **x) for c, x in bad[:_WORST]]},
    )


# -- chunks --------------------------------------------------------------------------------


def no_empty_chunks(chunks: Sequence[Chunk]) -> CheckOutcome:
    bad = [c for c in chunks if not c.text.strip()]
    return CheckOutcome(not bad, f"{len(bad)} empty or whitespace-only chunks",
                        {"num_empty": len(bad), "num_chunks": len(chunks),
                         "worst": [_offender(c) for c in bad[:_WORST]]})


def token_recount_sample(chunks: Sequence[Chunk], max_tokens: int, margin: int,
                         sample_size: int) -> list[int]:
    """Positions of the chunks `within_token_limit` recounts: every chunk the chunker counted
    within `margin` tokens of the limit (where a small miscount would truncate it), and a
    random `sample_size` of the others (a miscount among them means the chunker's counts
    cannot be trusted). Recounting all of them costs as much as tokenizing the corpus again."""
    near = [i for i, c in enumerate(chunks) if c.num_tokens > max_tokens - margin]
    others = [i for i, c in enumerate(chunks) if c.num_tokens <= max_tokens - margin]
    # Seeded by the batch, so the same chunks get the same verdict.
    seed = len(chunks) + sum(c.num_tokens for c in chunks)
    picked = random.Random(seed).sample(others, min(sample_size, len(others)))
    return sorted([*near, *picked])


def within_token_limit(chunks: Sequence[Chunk], recounts: dict[int, int],
                       max_tokens: int) -> CheckOutcome:
    """No chunk over `max_tokens`, by the chunker's count and by `recounts` ({position: tokens
    recounted with the model's own tokenizer}); and every recount equals the chunker's count."""
    counts = [max(c.num_tokens, recounts.get(i, 0)) for i, c in enumerate(chunks)]
    bad = sorted(((c, n) for c, n in zip(chunks, counts, strict=True) if n > max_tokens),
                 key=lambda item: -item[1])
    miscounted = [(chunks[i], n) for i, n in sorted(recounts.items())
                  if n != chunks[i].num_tokens]
    return CheckOutcome(
        not bad and not miscounted,
        f"{len(bad)} chunks longer than {max_tokens} tokens; {len(miscounted)} of "
        f"{len(recounts)} recounted chunks counted differently by the chunker",
        {"num_too_long": len(bad), "max_tokens": max_tokens,
         "longest": max(counts, default=0), "num_recounted": len(recounts),
         "num_miscounted": len(miscounted),
         "worst": [_offender(c, tokens=n) for c, n in bad[:_WORST]],
         "miscounted": [_offender(c, tokens=n, chunker_tokens=c.num_tokens)
                        for c, n in miscounted[:_WORST]]})


def tiny_chunk_share(chunks: Sequence[Chunk], thresholds: QualityThresholds) -> CheckOutcome:
    bad = sorted(((c, {"tokens": c.num_tokens}) for c in chunks
                  if c.num_tokens < thresholds.tiny_chunk_tokens), key=lambda x: x[0].num_tokens)
    return _share_check("tiny", bad, len(chunks), thresholds.max_tiny_share,
                        f"under {thresholds.tiny_chunk_tokens} tokens",
                        thresholds.min_chunks_for_shares)


def duplicate_chunk_share(chunks: Sequence[Chunk], thresholds: QualityThresholds) -> CheckOutcome:
    counts = Counter(c.content_hash for c in chunks)
    seen: set[str] = set()
    bad = []
    for chunk in chunks:
        if counts[chunk.content_hash] > 1:
            if chunk.content_hash in seen:
                bad.append((chunk, {"copies": counts[chunk.content_hash]}))
            seen.add(chunk.content_hash)
    return _share_check("duplicate", bad, len(chunks), thresholds.max_duplicate_share,
                        "repeat another chunk's text", thresholds.min_chunks_for_shares)


def is_mojibake(text: str) -> bool:
    """UTF-8 decoded as Windows-1252 or Latin-1: ftfy decodes it back to other text, or the
    telltale pairs are everywhere."""
    if not _MOJIBAKE_HINT.search(text):
        return False
    if _PUNCTUATION_MOJIBAKE.search(text):
        return True
    pairs = len(_MOJIBAKE_HINT.findall(text))
    if pairs >= _MOJIBAKE_PAIRS and pairs >= _MOJIBAKE_PAIR_SHARE * len(_LETTER.findall(text)):
        return True
    return _ftfy().fix_encoding(text) != text


def garbled_reason(text: str) -> str | None:
    if "\ufffd" in text:
        return "replacement character"
    if is_mojibake(text):
        return "mojibake"
    if _CONTROL.search(text):
        return "control characters"
    if not _MAYBE_ODD.search(text):
        return None
    if _PRIVATE_USE_RUN.search(text):
        return "private-use characters"
    if _SYMBOL_RUN.search(text):
        return "run of symbols"
    odd = len(_ODD_CHAR.findall(text))
    if odd > 3:  # counting letters only then: most chunks have no odd character at all
        letters = len(_LETTER.findall(text))
        if odd > 0.2 * (letters or 1):
            return "mostly symbols"
    return None


def garbled_share(chunks: Sequence[Chunk], thresholds: QualityThresholds) -> CheckOutcome:
    bad = [(c, {"reason": r}) for c in chunks if (r := garbled_reason(c.text))]
    return _share_check("garbled", bad, len(chunks), thresholds.max_garbled_share,
                        "look garbled", thresholds.min_chunks_for_shares)


def document_garbled_reason(chunks: Sequence[Chunk], max_share: float) -> str | None:
    """Why a whole document should be quarantined, or None."""
    reasons = [r for c in chunks if (r := garbled_reason(c.text))]
    if not chunks or len(reasons) / len(chunks) <= max_share:
        return None
    common = Counter(reasons).most_common(1)[0][0]
    return f"garbled text ({common} in {len(reasons)} of {len(chunks)} chunks)"


def every_document_chunked(documents: Sequence[ChunkedDocument]) -> CheckOutcome:
    bad = [d.document.source.relative_path for d in documents if not d.chunks]
    return CheckOutcome(not bad, f"{len(bad)} extracted documents produced no chunk",
                        {"num_documents": len(documents), "num_without_chunks": len(bad),
                         "documents": bad[:20]})


# -- embeddings ----------------------------------------------------------------------------


def embedding_dimension(vectors: np.ndarray, expected: int) -> CheckOutcome:
    dims = sorted({int(vectors.shape[1])}) if vectors.size else []
    passed = not dims or dims == [expected]
    return CheckOutcome(passed, f"vector dimension {dims or 'n/a'}, model says {expected}",
                        {"dimension": dims[0] if dims else 0, "expected_dimension": expected})


def embeddings_finite(vectors: np.ndarray, hashes: Sequence[str]) -> CheckOutcome:
    bad_rows = np.where(~np.isfinite(vectors).all(axis=1))[0] if vectors.size else []
    return CheckOutcome(len(bad_rows) == 0, f"{len(bad_rows)} vectors with NaN or inf",
                        {"num_not_finite": len(bad_rows),
                         "content_hashes": [hashes[i] for i in list(bad_rows)[:_WORST]]})


def embeddings_normalized(vectors: np.ndarray, should_be: bool,
                          tolerance: float = 1e-3) -> CheckOutcome:
    if not should_be or not vectors.size:
        return CheckOutcome(True, "model does not normalise" if not should_be else "no vectors",
                            {"normalized_expected": should_be})
    norms = np.linalg.norm(vectors, axis=1)
    bad = int((np.abs(norms - 1.0) > tolerance).sum())
    return CheckOutcome(bad == 0, f"{bad} vectors not of unit length",
                        {"num_not_normalized": bad, "min_norm": float(norms.min()),
                         "max_norm": float(norms.max())})


# -- indexes -------------------------------------------------------------------------------


def counts_match(qdrant_points: int | None, ledger_chunks: int, bm25_entries: int | None
                 ) -> CheckOutcome:
    """None: the collection or index does not exist yet (as good as empty)."""
    qdrant_points, bm25_entries = qdrant_points or 0, bm25_entries or 0
    passed = qdrant_points == ledger_chunks == bm25_entries
    return CheckOutcome(passed, f"Qdrant {qdrant_points}, ledger {ledger_chunks}, "
                        f"BM25 {bm25_entries}",
                        {"qdrant_points": qdrant_points or 0, "ledger_chunks": ledger_chunks,
                         "bm25_entries": bm25_entries or 0})


def no_orphans(point_documents: dict[str, str], ledger_document_ids: set[str],
               ledger_chunk_ids: set[str]) -> CheckOutcome:
    """point_documents: point id -> payload document_id, for every point in the collection."""
    orphans = [(pid, doc) for pid, doc in point_documents.items()
               if doc not in ledger_document_ids or pid not in ledger_chunk_ids]
    return CheckOutcome(not orphans, f"{len(orphans)} points not backed by the ledger",
                        {"num_orphans": len(orphans),
                         "worst": [{"point_id": p, "document_id": d} for p, d in orphans[:_WORST]]})


def sample_payloads(ledger_chunks: Sequence[Chunk], size: int, seed: int = 0) -> list[Chunk]:
    return random.Random(seed).sample(list(ledger_chunks), min(size, len(ledger_chunks)))


def payloads_match(expected: Sequence[Chunk], stored: dict[str, dict]) -> CheckOutcome:
    bad = []
    for chunk in expected:
        payload = stored.get(chunk.chunk_id)
        if payload is None:
            bad.append({"chunk_id": chunk.chunk_id, "problem": "point missing"})
        elif payload != chunk.payload():
            keys = sorted(k for k, v in chunk.payload().items() if payload.get(k) != v)
            bad.append({"chunk_id": chunk.chunk_id, "problem": f"differs in {keys}"})
    return CheckOutcome(not bad, f"{len(bad)} of {len(expected)} sampled points differ from "
                        "their ledger chunk", {"num_sampled": len(expected),
                                               "num_mismatched": len(bad), "worst": bad[:_WORST]})
