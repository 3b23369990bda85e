"""Documents are partitioned into a fixed number of hash shards of their id.

N new documents cost one run (a single-run backfill covers any set of shards), and a backfill
over all shards re-processes everything. Never one partition per document.
"""

from dagster import BackfillPolicy, StaticPartitionsDefinition

from rag_pipeline.ids import all_shard_keys

document_shards = StaticPartitionsDefinition(all_shard_keys())
OWNERS = ["team:data-engineering"]
EMBEDDING_POOL = "rag_embedding"
"""Dagster concurrency pool of the embedding steps of every knowledge base (they share the
machine's cores, or an endpoint's rate limit): its limit is set per deployment."""


def shard_backfill_policy(max_shards: int) -> BackfillPolicy:
    """Every selected shard in one run, or runs of at most `max_shards`."""
    return (BackfillPolicy.multi_run(max_partitions_per_run=max_shards) if max_shards
            else BackfillPolicy.single_run())
