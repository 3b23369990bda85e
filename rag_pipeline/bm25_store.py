"""The BM25 index: rank-bm25 over the ledger's chunks, persisted with the chunk ids.

Rebuilt from the ledger (never patched), so it describes exactly the chunks the ledger says are
indexed; written to a temporary file and renamed into place, so readers never see half a file.
A rebuild takes the term counts of chunks the previous index already held from it instead of
tokenizing their texts again (a chunk id names one exact text; a change of tokenization must
bump `_FORMAT_VERSION`, which discards old files): half the rebuild's time at 24k chunks.
Queries score only candidate chunks (those containing a query term), via an inverted index.
Each chunk is analysed in its document's language and each query in every language the index
holds (`rag_pipeline.analysis`).

The file holds arrays and strings only (NumPy's .npz read with `allow_pickle=False`): a data
folder someone else can write must not be able to run code in a searcher, as a pickle could.
Its average chunk length can be set (the live Qdrant collection's, see `sparse_bm25`), so this
index and Qdrant's sparse vectors give the same scores.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock
from rank_bm25 import BM25Okapi

from rag_pipeline.analysis import ENGLISH, bm25_terms, query_terms
from rag_pipeline.ports import Hit

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 6
IndexText = tuple[str, str] | tuple[str, str, str | None]
"""(chunk id, text) or (chunk id, text, language); without a language a text is English."""


class LuceneBM25(BM25Okapi):
    """rank-bm25's Okapi scoring with Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)).

    rank-bm25's own Okapi IDF, log((N - n + 0.5) / (n + 0.5)), is negative for a term found in
    more than half of the chunks: a small index (one document, say) then scores every match
    below zero. Lucene's IDF is never negative and is what the published BM25 baselines use.
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))

    @classmethod
    def from_counts(cls, doc_freqs: list[dict[str, int]], lengths: list[int], *, k1: float,
                    b: float, avgdl: float) -> LuceneBM25:
        """The scorer rank-bm25 would build from the chunks' terms, from their counts (what a
        saved index holds) without the token lists."""
        bm25 = cls.__new__(cls)
        bm25.k1, bm25.b, bm25.epsilon = k1, b, 0.25
        bm25.corpus_size, bm25.doc_len, bm25.doc_freqs = len(doc_freqs), lengths, doc_freqs
        bm25.avgdl = avgdl
        bm25.idf = {}
        bm25.tokenizer = None
        document_frequency: Counter[str] = Counter()
        for counts in doc_freqs:
            document_frequency.update(counts.keys())
        bm25._calc_idf(dict(document_frequency))
        return bm25


def bm25_tokens(text: str, language: str | None = ENGLISH) -> list[str]:
    return bm25_terms(text, language)


def chunk_set_fingerprint(chunk_ids: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for chunk_id in sorted(chunk_ids):
        digest.update(chunk_id.encode())
    return digest.hexdigest()[:16]


@dataclass
class BM25Index:
    chunk_ids: list[str]
    bm25: LuceneBM25 | None
    postings: dict[str, np.ndarray]
    fingerprint: str
    k1: float = 0.9
    b: float = 0.4
    languages: list[str | None] = field(default_factory=list)
    """Each chunk's language, by position (what its counts were analysed with)."""
    language_counts: dict[str | None, int] = field(default_factory=dict)
    avgdl: float | None = None
    """The mean chunk length scores are normalised by: the corpus' own unless one was set."""

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def build(cls, chunks: Iterable[IndexText], k1: float = 0.9, b: float = 0.4,
              previous: BM25Index | None = None, avgdl: float | None = None) -> BM25Index:
        """The index of `chunks`; a chunk `previous` analysed in the same language is not
        tokenized again. `avgdl` replaces the corpus' mean length in the length
        normalisation."""
        known: dict[tuple[str, str | None], dict[str, int]] = {}
        if (previous is not None and previous.bm25 is not None
                and len(previous.bm25.doc_freqs) == len(previous.chunk_ids)
                == len(previous.languages)):
            known = dict(zip(zip(previous.chunk_ids, previous.languages, strict=True),
                             previous.bm25.doc_freqs, strict=True))
        chunk_ids: list[str] = []
        languages: list[str | None] = []
        corpus: list[list[str]] = []
        postings: dict[str, list[int]] = {}
        for chunk in chunks:
            chunk_id, text = chunk[0], chunk[1]
            language = chunk[2] if len(chunk) > 2 else ENGLISH
            language = sys.intern(language) if language else None  # pickled once, not per chunk
            counts = known.get((chunk_id, language))
            if counts is None:
                tokens = bm25_tokens(text, language)
                terms: Iterable[str] = set(tokens)
            else:  # rank-bm25 reads only each term's count and the length
                tokens = [term for term, count in counts.items() for _ in range(count)]
                terms = counts.keys()
            position = len(chunk_ids)
            chunk_ids.append(chunk_id)
            languages.append(language)
            corpus.append(tokens)
            for token in terms:
                postings.setdefault(token, []).append(position)
        bm25 = LuceneBM25(corpus, k1=k1, b=b) if corpus else None
        if bm25 is not None and avgdl is not None:
            bm25.avgdl = avgdl
        return cls(
            chunk_ids=chunk_ids,
            bm25=bm25,
            postings={t: np.asarray(p, dtype=np.int32) for t, p in postings.items()},
            fingerprint=chunk_set_fingerprint(chunk_ids),
            k1=k1,
            b=b,
            languages=languages,
            language_counts=dict(Counter(languages)),
            avgdl=bm25.avgdl if bm25 is not None else avgdl,
        )

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if self.bm25 is None:
            return []
        terms = [t for t in query_terms(query, self.language_counts) if t in self.postings]
        if not terms:
            return []
        candidates = np.unique(np.concatenate([self.postings[t] for t in set(terms)]))
        scores = np.asarray(self.bm25.get_batch_scores(terms, candidates.tolist()))
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.chunk_ids[candidates[i]], float(scores[i])) for i in top if scores[i] > 0]

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Term counts as postings (term, chunk position, count), with the chunk ids, their
        languages and the parameters: everything `load` needs, no Python objects."""
        terms = sorted(self.postings)
        doc_freqs = self.bm25.doc_freqs if self.bm25 is not None else []
        positions = [self.postings[t] for t in terms]
        counts = [np.fromiter((doc_freqs[p][t] for p in self.postings[t].tolist()),
                              dtype=np.int32, count=len(self.postings[t])) for t in terms]
        lengths = np.asarray(self.bm25.doc_len if self.bm25 is not None else [], dtype=np.int32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            np.savez(
                handle,
                version=np.int32(_FORMAT_VERSION),
                parameters=np.asarray([self.k1, self.b, self.avgdl or 0.0], dtype=np.float64),
                chunk_ids=np.asarray(self.chunk_ids, dtype=np.str_),
                languages=np.asarray([lang or "" for lang in self.languages], dtype=np.str_),
                terms=np.asarray(terms, dtype=np.str_),
                offsets=np.cumsum([0, *(len(p) for p in positions)], dtype=np.int64),
                positions=_concat(positions),
                counts=_concat(counts),
                lengths=lengths,
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        with np.load(path, allow_pickle=False) as data:
            if "version" not in data or int(data["version"]) != _FORMAT_VERSION:
                raise ValueError(f"BM25 index at {path} has an old format; "
                                 "re-run the bm25_index asset")
            k1, b, avgdl = (float(x) for x in data["parameters"])
            chunk_ids = data["chunk_ids"].tolist()
            languages: list[str | None] = [sys.intern(lang) if lang else None
                                           for lang in data["languages"].tolist()]
            terms = data["terms"].tolist()
            offsets = data["offsets"].tolist()
            positions, counts = data["positions"], data["counts"]
            lengths = data["lengths"].tolist()
        postings = {t: positions[lo:hi] for t, lo, hi in zip(terms, offsets, offsets[1:],
                                                             strict=False)}
        bm25 = None
        if chunk_ids:
            doc_freqs: list[dict[str, int]] = [{} for _ in chunk_ids]
            for term, lo, hi in zip(terms, offsets, offsets[1:], strict=False):
                for position, count in zip(positions[lo:hi].tolist(), counts[lo:hi].tolist(),
                                           strict=True):
                    doc_freqs[position][term] = count
            bm25 = LuceneBM25.from_counts(doc_freqs, lengths, k1=k1, b=b, avgdl=avgdl)
        return cls(chunk_ids=chunk_ids, bm25=bm25, postings=postings,
                   fingerprint=chunk_set_fingerprint(chunk_ids), k1=k1, b=b,
                   languages=languages, language_counts=dict(Counter(languages)),
                   avgdl=avgdl or None)


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, dtype=np.int32)


def rebuild_lock(path: Path) -> FileLock:
    """One BM25 writer at a time (two runs finishing together must not interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock", timeout=600)


_loaded: dict[Path, tuple[int, BM25Index]] = {}


class RankBM25File:
    """The keyword index port on the rank-bm25 file the pipeline writes (`rebuild_bm25`)."""

    name = "rank-bm25"

    def __init__(self, path: Path) -> None:
        self.path = path

    def search(self, query: str, limit: int) -> list[Hit]:
        if not self.path.exists():
            raise LookupError("the BM25 index does not exist yet")
        return [Hit(chunk_id, score, {})
                for chunk_id, score in load_cached(self.path).search(query, limit)]


def load_cached(path: Path) -> BM25Index:
    """Load once per process and file version (mtime), so repeated searches do not re-read it."""
    mtime = path.stat().st_mtime_ns
    cached = _loaded.get(path)
    if cached is None or cached[0] != mtime:
        _loaded[path] = (mtime, BM25Index.load(path))
    return _loaded[path][1]
