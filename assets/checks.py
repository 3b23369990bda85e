"""Asset checks: specs declared on each asset, results computed in the same step.

Check names are `<asset>_<property>`. Checks on chunks and embeddings are blocking: an ERROR
keeps the batch out of Qdrant and BM25 (the downstream assets do not run).
"""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from rag_pipeline.quality import CheckOutcome

CHUNK_CHECKS = ("not_empty", "within_token_limit", "tiny_share", "duplicate_share",
                "garbled_share", "every_document_chunked")
EMBEDDING_CHECKS = ("dimension", "finite", "normalized", "no_drift")
QDRANT_CHECKS = ("no_orphans", "payload_matches", "failed_documents")
BM25_CHECKS = ("counts_match", "retrieval_smoke", "sparse_matches")
PUBLISH_CHECKS = ("synced", "counts_match", "retrieval_smoke")
WARN_ONLY = {"failed_documents"}

_DESCRIPTIONS = {
    "not_empty": "No empty or whitespace-only chunk.",
    "within_token_limit": "No chunk longer than the model's max_seq_length (model tokenizer).",
    "tiny_share": "Share of chunks under the token floor stays under the threshold.",
    "duplicate_share": "Share of chunks repeating another chunk's text stays under the threshold.",
    "garbled_share": "Share of garbled chunks (mojibake, U+FFFD, control characters, symbol "
                     "runs) stays under the threshold.",
    "every_document_chunked": "Every extracted document produced at least one chunk.",
    "dimension": "Vector dimension equals the model's.",
    "finite": "All vector values are finite.",
    "normalized": "Vectors have unit length when the model normalises.",
    "no_drift": "Fixed probe texts still embed as when this model's first vectors were made "
                "(cosine >= RAG_CHECK_MIN_PROBE_COSINE); checked before any new vector is "
                "cached.",
    "no_orphans": "Every Qdrant point belongs to an indexed ledger chunk.",
    "payload_matches": "Sampled Qdrant payloads equal their ledger chunks.",
    "failed_documents": "Lists the documents that failed (WARN).",
    "counts_match": "Qdrant points == ledger chunks == BM25 entries.",
    "retrieval_smoke": "Golden questions find their document in the top k of hybrid search.",
    "sparse_matches": "The live collection's sparse BM25 vectors give rank-bm25's top 10 and "
                      "scores on the golden questions and sampled chunks' opening words.",
    "synced": "Every shard of the target collection is synced with the ledger.",
}


def specs(asset: AssetKey, names: tuple[str, ...], blocking: bool) -> list[AssetCheckSpec]:
    """Named after the asset (not its knowledge base): the same check reads the same in
    every knowledge base's group."""
    return [AssetCheckSpec(f"{asset.path[-1]}_{name}", asset=asset, blocking=blocking,
                           description=_DESCRIPTIONS[name]) for name in names]


def _value(value: object) -> object:
    if isinstance(value, str) and value.startswith("| "):
        return MetadataValue.md(value)
    if isinstance(value, list | dict):
        return MetadataValue.json(value)
    return value


def results(asset: AssetKey, outcomes: dict[str, CheckOutcome]) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            check_name=f"{asset.path[-1]}_{name}",
            asset_key=asset,
            passed=outcome.passed,
            severity=AssetCheckSeverity.WARN if name in WARN_ONLY else AssetCheckSeverity.ERROR,
            description=outcome.description,
            metadata={k: _value(v) for k, v in outcome.metadata.items()},
        )
        for name, outcome in outcomes.items()
    ]
