"""Dagster definitions: wiring only (assets, resources from the environment, jobs, sensors)."""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, EnvVar, define_asset_job, in_process_executor

from assets import ALL_ASSETS, document_shards
from rag_pipeline.settings import Settings
from resources import PipelineSettingsResource, QdrantResource
from sensors import source_folder_sensor


def _from_env(name: str, default: str | None) -> EnvVar | str | None:
    """EnvVar when the variable is set (the UI then shows where the value comes from)."""
    return EnvVar(name) if os.environ.get(name, "").strip() else default


_defaults = Settings.from_env()

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
        "pipeline": PipelineSettingsResource.from_settings(
            _defaults,
            source_dir=_from_env("RAG_SOURCE_DIR", str(_defaults.source_dir)),
            source_uri=_from_env("RAG_SOURCE_URI", None),
            data_dir=_from_env("RAG_DATA_DIR", str(_defaults.data_dir)),
            embedding_model=_from_env("RAG_EMBEDDING_MODEL", _defaults.embedding_model),
            embedding_url=_from_env("RAG_EMBEDDING_URL", None),
            embedding_api_key=_from_env("RAG_EMBEDDING_API_KEY", None),
        ),
        "qdrant": QdrantResource(
            url=_from_env("QDRANT_URL", None),
            api_key=_from_env("QDRANT_API_KEY", None),
            embedded=_from_env("RAG_QDRANT_EMBEDDED", _defaults.qdrant_embedded),
        ),
    },
    # One process per run: torch and the model load once, not once per step
    # (the multiprocess executor pays ~4 s of start-up per step, more with torch).
    executor=in_process_executor,
)
