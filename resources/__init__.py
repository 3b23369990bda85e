"""Dagster resources: typed configuration for the pipeline, secrets through EnvVar."""

from resources.pipeline import (
    PipelineSettingsResource,
    QdrantResource,
    knowledge_base_resources,
    pipeline_services,
    pipeline_settings,
    resource_keys,
    settings_resources,
)

__all__ = ["PipelineSettingsResource", "QdrantResource", "knowledge_base_resources",
           "pipeline_services", "pipeline_settings", "resource_keys", "settings_resources"]
