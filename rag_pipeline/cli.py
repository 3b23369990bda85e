"""`rag-pipeline`: ingest (in-process Dagster run), search, status."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import textwrap
import time
from collections.abc import Sequence

from rag_pipeline.filters import SearchFilter
from rag_pipeline.knowledge_bases import knowledge_base, load_knowledge_bases
from rag_pipeline.search_modes import MODES
from rag_pipeline.setting_fields import SettingError
from rag_pipeline.settings import Settings


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from assets.ingest_run import IngestError, run_ingest  # the Dagster layer runs it

    started = time.perf_counter()
    shards = args.shards.split(",") if args.shards else None
    try:
        reports = run_ingest(settings, shards, knowledge_base=args.knowledge_base)
    except IngestError as exc:
        _err(str(exc))
        return 1
    seconds = time.perf_counter() - started
    extract = reports.get("extracted_documents", {})
    embed = reports.get("chunk_embeddings", {})
    index = reports.get("qdrant_index", {})
    _out(
        f"documents: {extract.get('num_documents_new', 0)} new, "
        f"{extract.get('num_documents_changed', 0)} changed, "
        f"{extract.get('num_documents_unchanged', 0)} unchanged, "
        f"{extract.get('num_documents_deleted', 0)} deleted, "
        f"{extract.get('num_documents_failed', 0)} failed"
    )
    _out(f"chunks: {embed.get('num_chunks_embedded', 0)} embedded, "
         f"{embed.get('num_chunks_reused', 0)} reused from cache; "
         f"{index.get('qdrant_points', 0)} points in {index.get('qdrant_collection', '?')}")
    publish_report = reports.get("published_collection", {})
    if publish_report.get("target_collection") != publish_report.get("live_collection"):
        _out(f"live collection: {publish_report.get('live_collection')} (target "
             f"{publish_report.get('target_collection')} not published: "
             f"{publish_report.get('reason')})")
    _out(f"seconds: {seconds:.1f}")
    return 0


def _collections(args: argparse.Namespace, settings: Settings) -> int:
    from rag_pipeline.pipeline.services import PipelineServices

    services = PipelineServices(settings)
    live, target = services.qdrant.live(), services.target_collection
    existing = set(services.qdrant.collections())
    for record in services.registry.all():
        marks = [m for m, on in (("live", record.name == live), ("target", record.name == target),
                                 ("rolled back", bool(record.rolled_back_at)),
                                 ("missing", record.name not in existing)) if on]
        points = services.qdrant.count(record.name) if record.name in existing else 0
        _out(f"{record.name}  model={record.model}  dim={record.dimension}  points={points}"
             + (f"  [{', '.join(marks)}]" if marks else ""))
    return 0


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from rag_pipeline.pipeline.publish import publish
    from rag_pipeline.pipeline.services import PipelineServices

    services = PipelineServices(settings)
    with services.qdrant.run_session():  # gates and swap, as a run has them
        report, gates = publish(services, logging.getLogger("rag_pipeline"), force=args.force)
    _out(str(report.get("reason")))
    for name, gate in gates.items():
        _out(f"  {'ok  ' if gate.passed else 'FAIL'} {name}: {gate.description}")
    return 0 if report["live_collection"] == report["target_collection"] else 1


def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    from rag_pipeline.pipeline.publish import rollback
    from rag_pipeline.pipeline.services import PipelineServices

    try:
        previous, current = rollback(PipelineServices(settings), args.to)
    except LookupError as exc:
        _err(f"cannot roll back: {exc}")
        return 2
    _out(f"alias moved from {previous} to {current}")
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    try:
        where = SearchFilter.parse(args.where, args.since)
    except ValueError as exc:
        _err(str(exc))
        return 2
    from rag_pipeline.query_model import start_loading_query_model

    start_loading_query_model(settings)  # builds its session while the imports below run
    from rag_pipeline.search import IndexNotFoundError, Searcher

    try:
        hits = Searcher(settings).search(args.query, k=args.k, mode=args.mode, where=where)
    except IndexNotFoundError as exc:
        _err(f"No index yet ({exc}). Run `rag-pipeline ingest` or materialize the assets in "
             "the Dagster UI first.")
        return 2
    if not hits:
        _out("no results")
    for hit in hits:
        chunk = hit.chunk
        pages = ",".join(map(str, chunk.page_numbers)) or "-"
        snippet = textwrap.shorten(" ".join(chunk.text.split()), width=160, placeholder=" ...")
        _out(f"{hit.rank:>3}  {hit.score:.4f}  {chunk.source_path}  page {pages}  "
             f"[{chunk.section_title or '-'}]")
        _out(f"     {snippet}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from rag_pipeline.ledger import Ledger
    from rag_pipeline.state_database import pipeline_state

    ledger = None
    if settings.database_url or settings.ledger_path.exists():
        ledger = Ledger(pipeline_state(settings))
    if ledger is None or ledger.generation() == 0:
        _err("No ledger yet: nothing has been ingested. Run `rag-pipeline ingest` first.")
        return 2
    counts = ledger.status_counts()
    _out(f"knowledge base: {args.knowledge_base}")
    _out(f"ledger: {ledger.database.describe()}")
    _out("documents: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    _out(f"chunks: {ledger.num_chunks()}")
    languages = ledger.language_counts()
    if languages:
        _out("languages: " + ", ".join(f"{language} {n}" for language, n in languages.items()))
    failed = ledger.failed_documents()
    if failed:
        _out("failed documents:")
        for document in failed:
            _out(f"  {document.source_path}: {document.error}")
    return 0


def _knowledge_bases(args: argparse.Namespace, settings: Settings) -> int:
    """Every declared knowledge base: where its documents come from and where it is kept."""
    for i, kb in enumerate(load_knowledge_bases()):
        s = kb.settings
        _out(f"{kb.name}{' (default)' if i == 0 else ''}: {kb.description}".rstrip(": "))
        _out(f"  source: {s.source_uri or s.source_dir}")
        _out(f"  model: {s.embedding_model}, {s.chunk_tokens} tokens per chunk")
        where = s.qdrant.url or f"Qdrant {s.qdrant.embedded}"
        _out(f"  alias: {s.qdrant.collection_alias} on {where}")
        _out(f"  data: {s.data_dir}")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import json
    import tempfile
    from dataclasses import asdict
    from pathlib import Path

    from rag_pipeline.evaluation.run import EvalConfig, evaluate, markdown_table

    work_dir = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="rag-eval-"))
    report = evaluate(EvalConfig(dataset=Path(args.dataset), work_dir=work_dir,
                                 split=args.split, max_queries=args.max_queries,
                                 rrf_k=args.rrf_k, tune=args.tune), settings)
    if report.tuning is not None and report.untuned is not None:
        tuned = report.tuning
        _out(f"Tuned on the train split (nDCG@10): bm25 k1={tuned.bm25_k1} b={tuned.bm25_b} "
             f"(train {tuned.train_ndcg['bm25']}), rrf_k={tuned.rrf_k} "
             f"(train hybrid {tuned.train_ndcg['hybrid']}).\n")
        _out(f"{args.split}, before tuning:\n\n{markdown_table(report.untuned)}\n")
        _out(f"{args.split}, tuned:\n")
    _out(markdown_table(report.results))
    if args.out:
        Path(args.out).write_text(json.dumps(report.results, indent=2))
        details = {"parameters": report.parameters, "untuned": report.untuned,
                   "tuning": asdict(report.tuning) if report.tuning else None}
        Path(args.out).with_suffix(".details.json").write_text(json.dumps(details, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag-pipeline", description=__doc__)
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--kb", metavar="NAME", help="the knowledge base (knowledge_bases.yaml; "
                       "default: the first declared)")
    commands = parser.add_subparsers(dest="command", required=True)
    command = functools.partial(commands.add_parser, parents=[which])
    ingest = command("ingest", help="materialize the assets in-process")
    ingest.add_argument("--shards", help="comma-separated shard keys (default: all)")
    search = command("search", help="search the index")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    search.add_argument("--mode", choices=MODES, default="hybrid")
    search.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="only documents with this file type (type=pdf), in this folder "
                        "(folder=handbook/, subfolders included) or with this tag (tag=hr, "
                        "tag=team=hr); repeat to add conditions")
    search.add_argument("--since", metavar="DATE",
                        help="only documents modified on or after this ISO date or time (UTC)")
    command("status", help="documents by status, chunks, failures")
    command("collections", help="Qdrant collections: model, points, live/target")
    command("knowledge-bases", help="the declared knowledge bases: source, model, alias, data")
    evaluation = command("eval", help="retrieval quality on a BEIR-format dataset")
    evaluation.add_argument("--dataset", required=True, help="folder with corpus.jsonl, "
                            "queries.jsonl and qrels/<split>.tsv")
    evaluation.add_argument("--split", default="test")
    evaluation.add_argument("--out", help="write the results as JSON")
    evaluation.add_argument("--work-dir", help="keep documents and index here (re-used by the "
                            "next evaluation; default: a temporary folder)")
    evaluation.add_argument("--max-queries", type=int, default=None)
    evaluation.add_argument("--rrf-k", type=int, default=None,
                            help="RRF constant (default: RAG_RRF_K, 60)")
    evaluation.add_argument("--tune", action="store_true",
                            help="tune BM25 k1/b and the RRF constant on the train split "
                            "(qrels/train.tsv), then report the split with them")
    publish = command("publish", help="move the alias to the target collection if its checks "
                      "pass")
    publish.add_argument("--force", action="store_true",
                         help="publish even if this collection was rolled back")
    rollback = command("rollback", help="move the alias back to the previous collection")
    rollback.add_argument("--to", help="collection name (default: the previous live one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        chosen = knowledge_base(args.kb)
    except SettingError as exc:
        logging.getLogger(__name__).error("%s", exc)
        return 2
    settings, args.knowledge_base = chosen.settings, chosen.name
    handlers = {"ingest": _ingest, "search": _search, "status": _status,
                "collections": _collections, "publish": _publish, "rollback": _rollback,
                "eval": _eval, "knowledge-bases": _knowledge_bases}
    return handlers[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
