"""Several knowledge bases in one deployment, declared in one YAML file.

Each knowledge base is a name and the settings in which it differs from the environment's
(any setting of `rag_pipeline.settings`, by its flat name). What makes them independent is
only settings: each has its own data folder (ledger, caches, BM25, embedded Qdrant) and its own
collection alias, so a model change, a failing check or a deletion in one never reaches
another, and the core needs no notion of a knowledge base at all.

```yaml
knowledge_bases:
  inbox: {}                        # the first is the default: the environment's settings
  handbook:
    description: HR handbook
    settings:
      source_uri: s3://company/handbook
      embedding_model: paraphrase-MiniLM-L3-v2
      chunk_tokens: 150
      golden_set: golden/handbook.json   # relative paths: from this file's folder
      qdrant_api_key: {env: HANDBOOK_QDRANT_API_KEY}   # read from that variable
```

The first knowledge base keeps the environment's data folder and alias (`RAG_DATA_DIR`,
`RAG_COLLECTION_ALIAS`); every other one defaults to `<RAG_DATA_DIR>/knowledge-bases/<name>` and
the alias `<name>` (on a shared `RAG_DATABASE_URL`, the schema `<name>`), and must say where
its documents are (`source_dir` or `source_uri`). All share the embedding cache in
`RAG_DATA_DIR`, or in the URL's own schema (vectors by model fingerprint and text hash: what one
knowledge base embedded, another with the same model does not embed again).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rag_pipeline.setting_fields import SettingError, values_from_env
from rag_pipeline.settings import PROJECT_ROOT, SETTING_FIELDS, Settings

DEFAULT_FILE = PROJECT_ROOT / "knowledge_bases.yaml"
DEFAULT_NAME = "inbox"
"""The knowledge base of a deployment without a declaration file."""
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""Names are Dagster key prefixes, group, job and resource names: lower-case identifiers."""
_SOURCE_FIELDS = ("source_dir", "source_uri")
_PATHS = {f.name for f in SETTING_FIELDS if f.kind is Path}


@dataclass(frozen=True)
class KnowledgeBase:
    name: str
    settings: Settings
    description: str = ""
    declared: dict[str, Any] = field(default_factory=dict, repr=False)
    """The settings its declaration sets (flat names), over the environment's (values read
    from variables included, hence not in the repr)."""
    variables: dict[str, str] = field(default_factory=dict)
    """Of those, the ones read from a variable of their own (`{env: NAME}`): flat name ->
    variable. Secrets stay out of the file, and each knowledge base can have its own."""


def declaration_file(environ: Mapping[str, str] | None = None) -> Path:
    """RAG_KNOWLEDGE_BASES, else `knowledge_bases.yaml` beside the project."""
    environ = os.environ if environ is None else environ
    raw = (environ.get("RAG_KNOWLEDGE_BASES") or "").strip()
    return Path(raw).expanduser() if raw else DEFAULT_FILE


def load_knowledge_bases(path: Path | None = None,
                         environ: Mapping[str, str] | None = None) -> tuple[KnowledgeBase, ...]:
    """Every declared knowledge base, the default first. Raises SettingError naming the file
    and the knowledge base for anything that would mix two of them up."""
    environ = os.environ if environ is None else environ
    chosen = declaration_file(environ) if path is None else path
    env_values = values_from_env(SETTING_FIELDS, environ)
    if not chosen.exists():
        if path is not None or (environ.get("RAG_KNOWLEDGE_BASES") or "").strip():
            raise SettingError(f"{chosen}: no such knowledge-base declaration file")
        return (KnowledgeBase(DEFAULT_NAME, Settings.from_flat(env_values)),)
    try:
        document = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingError(f"{chosen}: not YAML ({exc})") from exc
    declared = document.get("knowledge_bases") if isinstance(document, dict) else None
    if not isinstance(declared, dict) or not declared:
        raise SettingError(f"{chosen}: expected a `knowledge_bases:` mapping of names")
    bases = [_knowledge_base(chosen, str(name), body or {}, env_values, i == 0, environ)
             for i, (name, body) in enumerate(declared.items())]
    _check_apart(chosen, bases)
    return tuple(bases)


def knowledge_base(name: str | None = None, path: Path | None = None,
                   environ: Mapping[str, str] | None = None) -> KnowledgeBase:
    """The knowledge base called `name` (None: the default, the first declared)."""
    bases = load_knowledge_bases(path, environ)
    if name is None:
        return bases[0]
    for base in bases:
        if base.name == name:
            return base
    raise SettingError(f"no knowledge base {name!r}; declared: "
                       f"{', '.join(b.name for b in bases)}")


def _knowledge_base(path: Path, name: str, body: Any, env_values: dict[str, Any],
                    first: bool, environ: Mapping[str, str]) -> KnowledgeBase:
    where = f"{path}: knowledge base {name!r}"
    if not _NAME.match(name):
        raise SettingError(f"{where}: a name is lower-case letters, digits and _, starting "
                           "with a letter (it names Dagster assets, jobs and resources)")
    if not isinstance(body, dict) or not set(body) <= {"description", "settings"}:
        raise SettingError(f"{where}: expected `description:` and `settings:` only")
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise SettingError(f"{where}: `settings:` is a mapping of setting names to values")
    variables = {str(k): v["env"] for k, v in settings.items() if _is_variable(v)}
    declared = {str(k): _relative_to(path.parent, str(k), v) for k, v in settings.items()
                if str(k) not in variables}
    for setting_name, variable in variables.items():
        declared[setting_name] = _from_variable(where, setting_name, str(variable), environ)
    if not first:
        if not any(declared.get(f) for f in _SOURCE_FIELDS):
            raise SettingError(f"{where}: say where its documents are (source_dir or "
                               "source_uri); only the first knowledge base takes RAG_SOURCE_DIR")
        base_dir = Path(env_values.get("data_dir") or Settings.from_flat({}).data_dir)
        declared.setdefault("data_dir", str(base_dir.expanduser() / "knowledge-bases" / name))
        declared.setdefault("qdrant_collection_alias", name)
        declared.setdefault("database_schema", name)  # on a shared database server
        if env_values.get("staging_uri"):  # the shard batches of two would overwrite each other
            declared.setdefault("staging_uri", f"{str(env_values['staging_uri']).rstrip('/')}/"
                                f"{name}")
        if not env_values.get("embedding_cache_dir"):  # one cache: a text is embedded once
            declared.setdefault("embedding_cache_dir", str(base_dir.expanduser()))
    try:
        built = Settings.from_flat(env_values | declared)
    except SettingError as exc:
        raise SettingError(f"{where}: {exc}") from exc
    return KnowledgeBase(name, built, str(body.get("description") or ""), declared, variables)


def _is_variable(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)


def _from_variable(where: str, name: str, variable: str, environ: Mapping[str, str]) -> Any:
    fields = {f.name: f for f in SETTING_FIELDS}
    if name not in fields:
        raise SettingError(f"{where}: unknown settings: {name}")
    value = fields[name].parse(environ.get(variable))
    if value is None:
        raise SettingError(f"{where}: {name} reads {variable}, which is not set")
    return value


def _relative_to(folder: Path, name: str, value: Any) -> Any:
    """A relative path in the file is relative to the file, not to where a process runs."""
    if name in _PATHS and isinstance(value, str) and value.strip():
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else folder / path)
    if name == "source_uri" and isinstance(value, str) and "://" not in value and value.strip():
        return _relative_to(folder, "source_dir", value)
    return value


def _check_apart(path: Path, bases: list[KnowledgeBase]) -> None:
    """Two knowledge bases sharing a data folder would share a ledger; sharing an alias on one
    Qdrant server, a collection."""
    for attribute, what in ((lambda s: s.data_dir.resolve(), "data folder"),
                            (lambda s: (s.qdrant.url, s.qdrant.collection_alias),
                             "collection alias on one Qdrant"),
                            (lambda s: (s.database_url, s.database_schema) if s.database_url
                             else s.data_dir.resolve(), "database schema"),
                            (lambda s: s.staging_uri or s.staging_dir.resolve(),
                             "staging location")):
        seen: dict[Any, str] = {}
        for base in bases:
            key = attribute(base.settings)
            if key in seen:
                raise SettingError(f"{path}: knowledge bases {seen[key]!r} and {base.name!r} "
                                   f"share a {what}")
            seen[key] = base.name
