"""Documents are partitioned into a fixed number of hash shards of their id.

N new documents cost one run (a single-run backfill covers any set of shards), and a backfill
over all shards re-processes everything. Never one partition per document.
"""

from datetime import timedelta
from typing import Any

from dagster import BackfillPolicy, FreshnessPolicy, StaticPartitionsDefinition

from rag_pipeline.ids import all_shard_keys
from rag_pipeline.settings import index_freshness_hours

document_shards = StaticPartitionsDefinition(all_shard_keys())
OWNERS = ["team:data-engineering"]
EMBEDDING_POOL = "rag_embedding"
"""Dagster concurrency pool of the embedding steps of every knowledge base (they share the
machine's cores, or an endpoint's rate limit): its limit is set per deployment."""


def shard_backfill_policy(max_shards: int) -> BackfillPolicy:
    """Every selected shard in one run, or runs of at most `max_shards`."""
    return (BackfillPolicy.multi_run(max_partitions_per_run=max_shards) if max_shards
            else BackfillPolicy.single_run())


def index_freshness() -> dict[str, Any]:
    """The published index's freshness policy, when `RAG_INDEX_FRESHNESS_HOURS` sets one."""
    hours = index_freshness_hours()
    if not hours:
        return {}
    return {"freshness_policy": FreshnessPolicy.time_window(
        fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours / 2))}
