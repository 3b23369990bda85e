"""Dagster definitions: wiring only. Each declared knowledge base (`knowledge_bases.yaml`)
gets its assets, job, sensor and resources."""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from assets import KnowledgeBaseAssets, document_shards, knowledge_base_assets
from rag_pipeline.knowledge_bases import load_knowledge_bases
from resources import knowledge_base_resources
from resources.alerts import ALERTS_KEY, alerts_resource
from sensors import build_run_failure_sensor, build_source_sensor

KNOWLEDGE_BASES = load_knowledge_bases()  # a malformed setting or file stops the load here

assets, jobs, sensors, resources = [], [], [], {}
for knowledge_base in KNOWLEDGE_BASES:
    kb = KnowledgeBaseAssets.of(knowledge_base)
    assets.extend(knowledge_base_assets(kb))
    jobs.append(define_asset_job(
        kb.job_name, selection=AssetSelection.groups(kb.name), partitions_def=document_shards,
        description=f"Extract, clean, chunk, embed and index the changed documents of the "
        f"selected shards of {kb.name}, then refresh its BM25 index."))
    sensors.append(build_source_sensor(kb))
    resources.update(knowledge_base_resources(knowledge_base, os.environ))
sensors.append(build_run_failure_sensor(jobs))
resources[ALERTS_KEY] = alerts_resource(os.environ)

defs = Definitions(
    assets=assets,
    jobs=jobs,
    sensors=sensors,
    resources=resources,
    # One process per run: torch and the model load once, not once per step
    # (the multiprocess executor pays ~4 s of start-up per step, more with torch).
    executor=in_process_executor,
)
