"""Resources that turn Dagster configuration into the core's Settings and services.

Their fields are not written here: each is made from a setting's one declaration in
`rag_pipeline.settings` (type, default, help, environment variable), so the UI shows every
setting, and a setting cannot exist on one path and be missing on another."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr, create_model

from rag_pipeline.knowledge_bases import KnowledgeBase
from rag_pipeline.pipeline.services import PipelineServices, open_vector_index
from rag_pipeline.ports import VectorIndex
from rag_pipeline.setting_fields import SettingField
from rag_pipeline.settings import SETTING_FIELDS, Settings

QDRANT_FIELDS = tuple(f for f in SETTING_FIELDS if f.path[0] == "qdrant")
"""The Qdrant resource's settings, named without their section's prefix (`url`)."""
PIPELINE_FIELDS = tuple(f for f in SETTING_FIELDS if f not in QDRANT_FIELDS)


def _field_name(setting: SettingField) -> str:
    return setting.path[-1] if setting in QDRANT_FIELDS else setting.name


def _resource_fields(name: str, fields: tuple[SettingField, ...]) -> type:
    """A resource base class with one typed, described config field per setting."""
    declared: dict[str, Any] = {}
    for f in fields:
        description = f"{f.help} ({f.env})"
        if isinstance(f.default, list):
            info = Field(default_factory=lambda d=f.default: list(d), description=description)
        else:
            info = Field(default=f.default, description=description)
        declared[_field_name(f)] = (f.config_type, info)
    return create_model(name, __base__=ConfigurableResource, **declared)


def env_config(fields: tuple[SettingField, ...], environ: Mapping[str, str],
               variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Config for the variables that are set: an `EnvVar` where Dagster has one for the type
    (the UI then shows the variable, and a secret's value never enters the run's config), the
    parsed value otherwise. `variables`: a setting's own variable instead of its standard one
    (flat name -> variable)."""
    config: dict[str, Any] = {}
    for f in fields:
        variable = (variables or {}).get(f.name, f.env)
        value = f.parse(environ.get(variable))
        if value is None:
            continue
        if f.kind in (str, Path) and value:
            config[_field_name(f)] = EnvVar(variable)
        elif f.kind is int:
            config[_field_name(f)] = EnvVar.int(variable)
        else:
            config[_field_name(f)] = value
    return config


class PipelineSettingsResource(_resource_fields("PipelineSettingsFields", PIPELINE_FIELDS)):
    """Where documents come from, where the pipeline keeps its state, how it chunks, embeds
    and checks. Every field has an environment variable (see the README)."""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PipelineSettingsResource:
        flat = settings.to_flat()
        return cls(**{f.name: flat[f.name] for f in PIPELINE_FIELDS} | overrides)

    def flat_settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in PIPELINE_FIELDS}


class QdrantResource(_resource_fields("QdrantSettingsFields", QDRANT_FIELDS)):
    """The vector index of a run: Qdrant Edge under the data folder unless `url` is set.

    The resource owns the adapter: every step of a run gets the same one, opened at its first
    use (where it lives depends on the pipeline resource's data folder) and closed in
    `teardown_after_execution`. What stays open between steps is the adapter's call
    (`run_session`): nothing on Edge, whose opens are cheap, so searches interleave with a run;
    the one opening on qdrant-client's local mode, which loads every point on open."""

    @classmethod
    def from_settings(cls, settings: Settings) -> QdrantResource:
        flat = settings.to_flat()
        return cls(**{_field_name(f): flat[f.name] for f in QDRANT_FIELDS})

    def flat_settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, _field_name(f)) for f in QDRANT_FIELDS}

    _store: VectorIndex | None = PrivateAttr(default=None)
    _held: ExitStack = PrivateAttr(default_factory=ExitStack)

    def store(self, settings: Settings) -> VectorIndex:
        if self._store is None:
            self._store = open_vector_index(settings)
            self._held.enter_context(self._store.run_session())
        return self._store

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        store, self._store = self._store, None
        try:
            self._held.close()
        finally:
            if store is not None:
                store.close()


def pipeline_services(
    pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> PipelineServices:
    """What a step calls the core with: the settings, and the run's vector index."""
    settings = pipeline_settings(pipeline, qdrant)
    return PipelineServices(settings, vector_index=qdrant.store(settings))


def pipeline_settings(pipeline: PipelineSettingsResource, qdrant: QdrantResource) -> Settings:
    return Settings.from_flat(pipeline.flat_settings() | qdrant.flat_settings())


def resource_keys(knowledge_base: str) -> tuple[str, str]:
    """(pipeline settings, Qdrant) resource keys of a knowledge base: its own pair, so the UI
    shows each knowledge base's configuration and a run opens only its own index."""
    return f"{knowledge_base}_pipeline", f"{knowledge_base}_qdrant"


def knowledge_base_resources(knowledge_base: KnowledgeBase, environ: Mapping[str, str]
                             ) -> dict[str, ConfigurableResource]:
    """The knowledge base's resources as a deployment configures them: the environment's
    variables (as `EnvVar`s), then what its declaration sets."""
    variables = knowledge_base.variables
    declared = {k: v for k, v in knowledge_base.declared.items() if k not in variables}
    pipeline_key, qdrant_key = resource_keys(knowledge_base.name)
    return {
        pipeline_key: PipelineSettingsResource(
            **env_config(PIPELINE_FIELDS, environ, variables)
            | {f.name: declared[f.name] for f in PIPELINE_FIELDS if f.name in declared}),
        qdrant_key: QdrantResource(
            **env_config(QDRANT_FIELDS, environ, variables)
            | {_field_name(f): declared[f.name] for f in QDRANT_FIELDS if f.name in declared}),
    }


def settings_resources(knowledge_base: str, settings: Settings
                       ) -> dict[str, ConfigurableResource]:
    """The knowledge base's resources holding exactly `settings` (in-process runs, tests)."""
    pipeline_key, qdrant_key = resource_keys(knowledge_base)
    return {pipeline_key: PipelineSettingsResource.from_settings(settings),
            qdrant_key: QdrantResource.from_settings(settings)}
