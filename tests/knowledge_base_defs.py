"""A knowledge base's Dagster objects built for given settings, as the tests drive them."""

from __future__ import annotations

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from assets import KnowledgeBaseAssets
from rag_pipeline.knowledge_bases import DEFAULT_NAME, KnowledgeBase
from rag_pipeline.settings import Settings
from resources import settings_resources
from sensors import build_source_sensor


def kb_assets(settings: Settings, name: str = DEFAULT_NAME) -> KnowledgeBaseAssets:
    return KnowledgeBaseAssets.of(KnowledgeBase(name, settings))


def sensor_tick(settings: Settings, instance: DagsterInstance | None = None,
                cursor: str | None = None) -> SensorResult | SkipReason:
    """One evaluation of the knowledge base's source sensor."""
    kb = kb_assets(settings)
    with build_sensor_context(  # a context manager: the qdrant resource has a teardown
        instance=instance or DagsterInstance.ephemeral(), cursor=cursor,
        resources=settings_resources(kb.name, settings),
    ) as context:
        return build_source_sensor(kb)(context)
