"""Dagster definitions: wiring only (assets, resources from the environment, jobs, sensors)."""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from assets import ALL_ASSETS, document_shards
from resources import PipelineSettingsResource, QdrantResource
from resources.pipeline import PIPELINE_FIELDS, QDRANT_FIELDS, env_config
from sensors import source_folder_sensor

ingest_job = define_asset_job(
    "ingest_job",
    selection=AssetSelection.assets(*ALL_ASSETS),
    partitions_def=document_shards,
    description="Extract, clean, chunk, embed and index the changed documents of the selected "
    "shards, then refresh BM25.",
)

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[ingest_job],
    sensors=[source_folder_sensor],
    resources={
        "pipeline": PipelineSettingsResource(**env_config(PIPELINE_FIELDS, os.environ)),
        "qdrant": QdrantResource(**env_config(QDRANT_FIELDS, os.environ)),
    },
    # One process per run: torch and the model load once, not once per step
    # (the multiprocess executor pays ~4 s of start-up per step, more with torch).
    executor=in_process_executor,
)
