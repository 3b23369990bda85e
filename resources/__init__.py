"""Dagster resources: typed configuration for the pipeline, secrets through EnvVar."""

from resources.pipeline import (
    PipelineSettingsResource,
    QdrantResource,
    pipeline_services,
    pipeline_settings,
)

__all__ = ["PipelineSettingsResource", "QdrantResource", "pipeline_services", "pipeline_settings"]
