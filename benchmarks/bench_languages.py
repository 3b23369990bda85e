"""Documents in many languages and scripts through the pipeline:
python -m benchmarks.bench_languages [--documents 20] [--json OUT.json] [--work-dir DIR]

Builds a small corpus per language from Faker's word lists (real words of each language,
shipped in the package: nothing is downloaded), ingests all of it into one index, and prints
per language: documents quarantined (must be 0), the language detected, and recall@5 of
bm25-mode queries made of three words taken from each document (its rarest in the corpus).
Languages whose script has no spaces (Chinese, Japanese, Thai) are written without spaces, as
they are. Faker has no word list for Hindi, Tamil, Georgian and Korean, and its Vietnamese one
holds only function words (every one a stop word): those documents are lists of people's names.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from assets.ingest_run import run_ingest
from rag_pipeline.ledger import FAILED, Ledger
from rag_pipeline.search import Searcher
from rag_pipeline.settings import Settings
from rag_pipeline.state_database import pipeline_state

K = 5
QUERY_WORDS = 3


@dataclass(frozen=True)
class LanguageCorpus:
    locale: str
    language: str
    """ISO 639-1 code the detector should find."""
    separator: str
    names_only: bool = False


CORPORA = [
    LanguageCorpus("en_US", "en", " "), LanguageCorpus("de_DE", "de", " "),
    LanguageCorpus("fr_FR", "fr", " "), LanguageCorpus("ru_RU", "ru", " "),
    LanguageCorpus("el_GR", "el", " "), LanguageCorpus("ar_AA", "ar", " "),
    LanguageCorpus("hy_AM", "hy", " "), LanguageCorpus("bn_BD", "bn", " "),
    LanguageCorpus("vi_VN", "vi", " ", names_only=True), LanguageCorpus("zh_CN", "zh", ""),
    LanguageCorpus("ja_JP", "ja", ""), LanguageCorpus("th_TH", "th", ""),
    LanguageCorpus("hi_IN", "hi", " ", names_only=True),
    LanguageCorpus("ta_IN", "ta", " ", names_only=True),
    LanguageCorpus("ka_GE", "ka", " ", names_only=True),
    LanguageCorpus("ko_KR", "ko", " ", names_only=True),
]


def document_words(corpus: LanguageCorpus, seed: int) -> list[list[str]]:
    """Sentences (lists of words) of one document."""
    from faker import Faker

    fake = Faker(corpus.locale)
    fake.seed_instance(seed)
    if corpus.names_only:
        return [fake.name().split() for _ in range(12)]
    return [fake.words(nb=random.Random(seed).randint(8, 14)) for _ in range(8)]


def write_corpus(folder: Path, documents: int) -> dict[str, tuple[LanguageCorpus, list[str]]]:
    """file name -> (its language, its words)."""
    written: dict[str, tuple[LanguageCorpus, list[str]]] = {}
    for corpus in CORPORA:
        for i in range(documents):
            sentences = document_words(corpus, seed=1000 * CORPORA.index(corpus) + i)
            end = "。" if corpus.language in {"zh", "ja"} else ("" if corpus.language == "th"
                                                                 else ".")
            text = "\n\n".join(corpus.separator.join(s) + end for s in sentences)
            name = f"{corpus.language}-{i:03d}.txt"
            (folder / name).write_text(text + "\n", encoding="utf-8")
            written[name] = (corpus, [w for s in sentences for w in s])
    return written


def queries(written: dict[str, tuple[LanguageCorpus, list[str]]]) -> dict[str, str]:
    """file name -> three of its words, the rarest among its language's documents."""
    frequency: dict[str, Counter[str]] = {}
    for corpus, words in written.values():
        frequency.setdefault(corpus.language, Counter()).update(set(words))
    found = {}
    for name, (corpus, words) in written.items():
        counts = frequency[corpus.language]
        rarest = sorted(set(words), key=lambda w: (counts[w], w))[:QUERY_WORDS]
        found[name] = " ".join(rarest)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=20, help="documents per language")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-languages-"))
    (work / "documents").mkdir(parents=True, exist_ok=True)
    written = write_corpus(work / "documents", args.documents)
    settings = replace(Settings.from_env(), source_dir=work / "documents",
                       data_dir=work / "data")
    run_ingest(settings)
    ledger = Ledger(pipeline_state(settings))
    ledger_documents = {d.source_path: d for d in ledger.documents().values()}
    searcher = Searcher(settings)
    results: list[dict[str, object]] = []
    by_query = queries(written)
    for corpus in CORPORA:
        names = [n for n, (c, _) in written.items() if c is corpus]
        quarantined = [n for n in names if ledger_documents[n].status == FAILED]
        # getattr: the same benchmark measures a release from before languages were detected.
        detected = Counter(getattr(ledger_documents[n], "language", None) for n in names)
        found = 0
        for name in names:
            hits = searcher.search(by_query[name], k=K * 4, mode="bm25")
            ranked = list(dict.fromkeys(h.chunk.source_path for h in hits))[:K]
            found += name in ranked
        results.append({
            "language": corpus.language, "locale": corpus.locale, "documents": len(names),
            "quarantined": len(quarantined),
            "errors": sorted({ledger_documents[n].error or "" for n in quarantined}),
            "detected_as_expected": round(detected[corpus.language] / len(names), 3),
            "detected": dict(detected.most_common(3)),
            f"recall_at_{K}": round(found / len(names), 3),
        })
    out = sys.stdout
    out.write(f"| language | documents | quarantined | detected as expected | recall@{K} |\n"
              "|---|---|---|---|---|\n")
    for row in results:
        out.write(f"| {row['language']} | {row['documents']} | {row['quarantined']} | "
                  f"{row['detected_as_expected']:.0%} | {row[f'recall_at_{K}']:.2f} |\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
