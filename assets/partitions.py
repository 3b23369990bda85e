"""Documents are partitioned into a fixed number of hash shards of their id.

N new documents cost one run (a single-run backfill covers any set of shards), and a backfill
over all shards re-processes everything. Never one partition per document.
"""

from dagster import BackfillPolicy, StaticPartitionsDefinition

from rag_pipeline.ids import all_shard_keys

document_shards = StaticPartitionsDefinition(all_shard_keys())
single_run = BackfillPolicy.single_run()
OWNERS = ["team:data-engineering"]
