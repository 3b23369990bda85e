"""Each quality check fails on a crafted bad batch and passes on a good one."""

from __future__ import annotations

import numpy as np

from rag_pipeline.ids import chunk_id_for, text_hash
from rag_pipeline.quality import (
    counts_match,
    duplicate_chunk_share,
    embedding_dimension,
    embeddings_finite,
    embeddings_normalized,
    every_document_chunked,
    garbled_reason,
    garbled_share,
    no_empty_chunks,
    no_orphans,
    payloads_match,
    tiny_chunk_share,
    token_recount_sample,
    within_token_limit,
)
from rag_pipeline.records import Chunk
from rag_pipeline.settings import QualityThresholds

T = QualityThresholds()


def chunk(text: str, doc: str = "d1", tokens: int = 50, index: int = 0) -> Chunk:
    h = text_hash(text)
    return Chunk(chunk_id_for(doc, h), doc, f"{doc}.md", text, index, (1,), "S", 0, len(text),
                 h, tokens)


GOOD = [chunk(f"Paragraph {i} explains topic {i} in plain words.", index=i) for i in range(20)]


def test_not_empty() -> None:
    assert no_empty_chunks(GOOD).passed
    bad = no_empty_chunks([*GOOD, chunk("   \n ")])
    assert not bad.passed and bad.metadata["num_empty"] == 1
    assert bad.metadata["worst"][0]["document_id"] == "d1"


def test_token_limit() -> None:
    # GOOD chunks were counted 50 tokens each by the "chunker".
    assert within_token_limit(GOOD, {}, 254).passed
    assert within_token_limit(GOOD, {i: 50 for i in range(20)}, 254).passed
    over = within_token_limit([*GOOD, chunk("long", tokens=300)], {}, 254)
    assert not over.passed and over.metadata["worst"][0]["tokens"] == 300
    # A chunk the chunker undercounted: over the limit by the recount, and miscounted.
    under = within_token_limit(GOOD, {3: 50, 7: 300}, 254)
    assert not under.passed
    assert (under.metadata["num_too_long"], under.metadata["num_miscounted"]) == (1, 1)
    assert under.metadata["miscounted"][0]["chunker_tokens"] == 50
    # A miscount well under the limit still fails: the chunker's counts cannot be trusted.
    off_by_one = within_token_limit(GOOD, {5: 51}, 254)
    assert not off_by_one.passed and off_by_one.metadata["num_too_long"] == 0


def test_token_recount_sample_takes_every_chunk_near_the_limit() -> None:
    chunks = [chunk(f"text {i}", tokens=240 if i % 10 == 0 else 100, index=i)
              for i in range(1000)]
    picked = token_recount_sample(chunks, 254, margin=32, sample_size=50)
    near = [i for i in range(1000) if i % 10 == 0]
    assert set(near) <= set(picked) and len(picked) == len(near) + 50
    assert picked == token_recount_sample(chunks, 254, margin=32, sample_size=50)
    assert token_recount_sample(chunks, 254, margin=32, sample_size=5000) == list(range(1000))


def test_tiny_share() -> None:
    assert tiny_chunk_share(GOOD, T).passed
    tiny = [chunk(f"x{i}", tokens=2, index=i) for i in range(10)]
    bad = tiny_chunk_share(GOOD + tiny, T)
    assert not bad.passed and bad.metadata["num_tiny"] == 10
    # Too few chunks to judge a share: one short new note is not a pipeline problem.
    assert tiny_chunk_share(tiny[:3], T).passed


def test_duplicate_share() -> None:
    assert duplicate_chunk_share(GOOD, T).passed
    copies = [chunk(GOOD[0].text, doc=f"other{i}") for i in range(8)]
    bad = duplicate_chunk_share(GOOD + copies, T)
    assert not bad.passed and bad.metadata["num_duplicate"] == 8


def test_garbled_share() -> None:
    assert garbled_share(GOOD, T).passed
    assert garbled_reason("CafÃ© crÃ¨me") == "mojibake"
    assert garbled_reason("bad \ufffd char") == "replacement character"
    assert garbled_reason("bell \x07 here") == "control characters"
    assert garbled_reason("#### ░▒▓█ ####") == "run of symbols"
    assert garbled_reason("naïve façade — “quoted” Größe 5€ | table") is None
    bad = garbled_share([*GOOD, chunk("CafÃ© crÃ¨me brÃ»lÃ©e"), chunk("x \ufffd y")], T)
    assert not bad.passed and bad.metadata["worst"][0]["reason"] == "mojibake"


def test_mostly_garbled_document_is_quarantined() -> None:
    from rag_pipeline.quality import document_garbled_reason

    garbled = [chunk("CafÃ© crÃ¨me"), chunk("brÃ»lÃ©e"), chunk("fine words here")]
    assert document_garbled_reason(garbled, 0.5) == "garbled text (mojibake in 2 of 3 chunks)"
    assert document_garbled_reason(GOOD[:3], 0.5) is None


def test_every_document_chunked() -> None:
    from pathlib import Path

    from rag_pipeline.records import ChunkedDocument, CleanedDocument, SourceFile

    def doc(name: str, chunks: tuple) -> ChunkedDocument:
        source = SourceFile(Path(name), name, name, "00", 1, 1)
        return ChunkedDocument(CleanedDocument(source, "h", "t", "h", ()), chunks)

    assert every_document_chunked([doc("a", (GOOD[0],))]).passed
    bad = every_document_chunked([doc("a", (GOOD[0],)), doc("b", ())])
    assert not bad.passed and bad.metadata["documents"] == ["b"]


def test_embedding_checks() -> None:
    good = np.eye(4, 384, dtype=np.float32)
    assert embedding_dimension(good, 384).passed
    assert not embedding_dimension(np.ones((2, 128)), 384).passed
    assert embeddings_finite(good, ["a", "b", "c", "d"]).passed
    broken = good.copy()
    broken[2, 0] = np.nan
    bad = embeddings_finite(broken, ["a", "b", "c", "d"])
    assert not bad.passed and bad.metadata["content_hashes"] == ["c"]
    assert embeddings_normalized(good, True).passed
    assert not embeddings_normalized(good * 2, True).passed
    assert embeddings_normalized(good * 2, False).passed


def test_index_checks() -> None:
    assert counts_match(10, 10, 10).passed
    assert not counts_match(11, 10, 10).passed
    assert counts_match(None, 0, None).passed  # nothing indexed yet
    assert not counts_match(None, 5, 5).passed  # chunks in the ledger, no collection
    points = {c.chunk_id: c.document_id for c in GOOD}
    ids = {c.chunk_id for c in GOOD}
    assert no_orphans(points, {"d1"}, ids).passed
    bad = no_orphans({**points, "p-orphan": "gone"}, {"d1"}, ids)
    assert not bad.passed and bad.metadata["worst"] == [{"point_id": "p-orphan",
                                                         "document_id": "gone"}]
    stored = {c.chunk_id: c.payload() for c in GOOD[:3]}
    assert payloads_match(GOOD[:3], stored).passed
    stored[GOOD[1].chunk_id] = {**stored[GOOD[1].chunk_id], "text": "tampered"}
    bad = payloads_match(GOOD[:3], stored)
    assert not bad.passed and "text" in bad.metadata["worst"][0]["problem"]
