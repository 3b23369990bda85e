"""Documents are partitioned into a fixed number of hash shards of their id.

N new documents cost one run (a single-run backfill covers any set of shards), and a backfill
over all shards re-processes everything. Never one partition per document.
"""

import warnings

from dagster import BackfillPolicy, BetaWarning, StaticPartitionsDefinition

from rag_pipeline.ids import all_shard_keys
from rag_pipeline.models import resolve_model
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.settings import Settings

# Single-run backfills are "beta" in Dagster 1.13; they are what keeps N documents at one run.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")

document_shards = StaticPartitionsDefinition(all_shard_keys())
single_run = BackfillPolicy.single_run()
OWNERS = ["team:data-engineering"]

ENVIRONMENT_SETTINGS = Settings.from_env()
"""The settings as the code location loads (a malformed variable stops it here, named)."""

PROCESSING_VERSION = processing_fingerprint(ENVIRONMENT_SETTINGS)
"""Code version of the assets that make chunks: changing the chunking settings (or a version in
`rag_pipeline.processing`) shows them as changed in the UI; the next run re-processes."""

EMBEDDING_VERSION = resolve_model(ENVIRONMENT_SETTINGS.embedding_model).fingerprint
"""Code version of the assets whose output depends on the model: changing the embedding
setting shows chunk_embeddings and qdrant_index as changed in the UI until they are backfilled."""
