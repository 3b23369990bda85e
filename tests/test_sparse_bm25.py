"""Qdrant's sparse vectors score as the rank-bm25 index does; the saved index holds no code."""

from __future__ import annotations

import pickle
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from rag_pipeline.analysis import bm25_terms
from rag_pipeline.bm25_store import BM25Index
from rag_pipeline.pipeline.checks import same_ranking
from rag_pipeline.sparse_bm25 import BM25Parameters, mean_length, query_vector, weights

WORDS = ("protein cell gene tumour receptor signal membrane enzyme virus antibody insulin "
         "neuron synapse mutation pathway kinase ligand plasma muscle liver kidney heart "
         "vaccine dose trial patient therapy infection immune response growth factor").split()


def generated_corpus(n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """Texts of 3 to 80 words drawn with a skewed frequency (some terms in most chunks, some
    in a few), with stop words between them, in English and German."""
    rng = np.random.default_rng(seed)
    weights_by_rank = 1 / np.arange(1, len(WORDS) + 1)
    p = weights_by_rank / weights_by_rank.sum()
    chunks = []
    for i in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(3, 80)), p=p)
        text = " the ".join(words) if i % 5 else " und ".join(words)
        chunks.append((str(uuid.UUID(int=i + 1)), text, "en" if i % 5 else "de"))
    return chunks


def test_qdrant_sparse_scores_equal_rank_bm25_lucene_scores() -> None:
    chunks = generated_corpus(600)
    terms = [bm25_terms(text, language) for _, text, language in chunks]
    parameters = BM25Parameters(k1=0.9, b=0.4, avgdl=mean_length(terms))
    index = BM25Index.build(chunks, k1=0.9, b=0.4, avgdl=parameters.avgdl)
    client = QdrantClient(path=tempfile.mkdtemp())
    client.create_collection("c", vectors_config={}, sparse_vectors_config={
        "bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)})
    client.upsert("c", points=[
        models.PointStruct(id=chunk_id, vector={"bm25": models.SparseVector(
            indices=w.indices, values=w.values)})
        for (chunk_id, _, _), w in zip(chunks, (weights(t, parameters) for t in terms),
                                       strict=True)])
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 5)))) for _ in range(40)]
    queries += ["protein protein kinase", "the immune response of the liver"]
    languages = index.language_counts
    compared = 0
    for query in queries:
        expected = index.search(query, 10)
        sparse = query_vector(query, languages)
        got = [(str(p.id), p.score) for p in client.query_points(
            "c", query=models.SparseVector(indices=sparse.indices, values=sparse.values),
            using="bm25", limit=10).points]
        assert same_ranking(expected, got), query
        for (_, a), (_, b) in zip(expected, got, strict=True):
            assert b == pytest.approx(a, rel=1e-5)
        compared += len(expected)
    assert compared == 10 * len(queries)  # every query found ten chunks
    client.close()


def test_a_shifted_mean_length_changes_the_scores_so_the_comparison_can_fail() -> None:
    chunks = generated_corpus(50)
    index = BM25Index.build(chunks)
    shifted = BM25Index.build(chunks, avgdl=index.avgdl * 2)  # type: ignore[operator]
    assert not same_ranking(index.search("protein cell", 10), shifted.search("protein cell", 10))


def test_a_saved_index_loads_with_the_same_scores(tmp_path: Path) -> None:
    chunks = generated_corpus(200)
    index = BM25Index.build(chunks, k1=1.2, b=0.6, avgdl=30.0)
    index.save(tmp_path / "index.npz")
    loaded = BM25Index.load(tmp_path / "index.npz")
    assert (loaded.k1, loaded.b, loaded.avgdl) == (1.2, 0.6, 30.0)
    assert loaded.chunk_ids == index.chunk_ids and loaded.languages == index.languages
    for query in ("protein kinase", "immune response", "gene"):
        assert loaded.search(query, 20) == index.search(query, 20)
    assert loaded.bm25 is not None and index.bm25 is not None
    assert loaded.bm25.idf == index.bm25.idf and loaded.bm25.doc_freqs == index.bm25.doc_freqs


class _Payload:
    """Unpickling this writes a file: what a planted index file could do to a searcher."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "ran"))


def test_a_planted_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    planted = tmp_path / "index.npz"
    planted.write_bytes(pickle.dumps({"version": 6, "index": _Payload(marker)}))
    with pytest.raises(ValueError):
        BM25Index.load(planted)
    assert not marker.exists()


def test_both_keyword_index_adapters_answer_alike_through_the_port(tmp_path: Path) -> None:
    """rank-bm25's file and a Qdrant Edge collection's sparse vectors, each behind the keyword
    index port: the same chunks, ranked alike, with the same scores."""
    from rag_pipeline.bm25_store import RankBM25File
    from rag_pipeline.edge_store import EdgeStore
    from rag_pipeline.keyword_indexes import SparseVectorKeywords

    chunks = generated_corpus(400, seed=11)
    terms = [bm25_terms(text, language) for _, text, language in chunks]
    parameters = BM25Parameters(k1=0.9, b=0.4, avgdl=mean_length(terms))
    BM25Index.build(chunks, avgdl=parameters.avgdl).save(tmp_path / "index.npz")
    store = EdgeStore(path=tmp_path / "edge")
    store.ensure_collection("c", 4)
    ids = [chunk_id for chunk_id, _, _ in chunks]
    store.upsert("c", ids, np.ones((len(ids), 4), dtype=np.float32),
                 [{"document_id": i, "text": text} for i, text, _ in chunks],
                 [weights(t, parameters) for t in terms])
    store.point_alias("c")
    file_index = RankBM25File(tmp_path / "index.npz")
    sparse_index = SparseVectorKeywords(store, lambda: None, lambda: ["en", "de"])
    for query in ("protein kinase", "the immune response", "vaccine und trial", "liver"):
        expected = [(h.id, h.score) for h in file_index.search(query, 10)]
        got = [(h.id, h.score) for h in sparse_index.search(query, 10)]
        assert len(expected) == 10 and same_ranking(expected, got), query
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-5)
    assert all(h.payload == {} for h in file_index.search("liver", 3))  # ids: read the ledger
    with pytest.raises(LookupError):
        RankBM25File(tmp_path / "missing.npz").search("liver", 3)
