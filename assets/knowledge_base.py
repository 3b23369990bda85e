"""What the assets of one knowledge base share: their key prefix and group, the resources
that hold its settings, and the code versions its settings give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, AssetKey

from assets.checks import specs
from assets.partitions import OWNERS, document_shards, shard_backfill_policy
from rag_pipeline.knowledge_bases import KnowledgeBase
from rag_pipeline.models import resolve_model
from rag_pipeline.pipeline.lineage import PER_SHARD, UPSTREAM
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.processing import processing_fingerprint
from rag_pipeline.settings import max_shards_per_run
from resources import pipeline_services, resource_keys


@dataclass(frozen=True)
class KnowledgeBaseAssets:
    name: str
    """Key prefix and group of its assets; prefix of its job, sensor and resources."""
    processing_version: str
    """Code version of the assets that make chunks: changing the chunking settings (or a
    version in `rag_pipeline.processing`) shows them as changed in the UI; the next run
    re-processes."""
    embedding_version: str
    """Code version of the assets whose output depends on the model: a model change shows
    chunk_embeddings and qdrant_index as changed until they are backfilled."""

    @classmethod
    def of(cls, knowledge_base: KnowledgeBase) -> KnowledgeBaseAssets:
        settings = knowledge_base.settings
        return cls(knowledge_base.name, processing_fingerprint(settings),
                   resolve_model(settings.embedding_model).fingerprint)

    @property
    def pipeline_key(self) -> str:
        return resource_keys(self.name)[0]

    @property
    def qdrant_key(self) -> str:
        return resource_keys(self.name)[1]

    @property
    def resource_keys(self) -> set[str]:
        return set(resource_keys(self.name))

    @property
    def job_name(self) -> str:
        return f"{self.name}_ingest_job"

    @property
    def index_pool(self) -> str:
        """Dagster concurrency pool of the steps that write its indexes (an embedded store
        has one writer at a time; on a server, it keeps a batch's writes in order)."""
        return f"{self.name}_index_writes"

    def key(self, asset_name: str) -> AssetKey:
        return AssetKey([self.name, asset_name])

    def asset_args(self, name: str, kinds: set[str], *, code_version: str | None = None,
                   checks: tuple[str, ...] = (), blocking: bool = False,
                   pool: str | None = None) -> dict[str, Any]:
        """What every asset of the knowledge base declares: its key, group, resources,
        checks and concurrency pool, and from the pipeline's lineage its upstream asset and
        whether it is partitioned by document shard (the selected shards in one run, or in
        runs of `RAG_MAX_SHARDS_PER_RUN`)."""
        key = self.key(name)
        upstream = UPSTREAM[name]
        args: dict[str, Any] = {
            "key": key, "group_name": self.name, "required_resource_keys": self.resource_keys,
            "deps": [self.key(upstream)] if upstream else [], "kinds": kinds,
            "owners": OWNERS, "code_version": code_version,
            "check_specs": specs(key, checks, blocking=blocking), "pool": pool}
        if name in PER_SHARD:
            args |= {"partitions_def": document_shards,
                     "backfill_policy": shard_backfill_policy(max_shards_per_run())}
        return args

    def services(self, context: AssetExecutionContext) -> PipelineServices:
        return pipeline_services(getattr(context.resources, self.pipeline_key),
                                 getattr(context.resources, self.qdrant_key))
