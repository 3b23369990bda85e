"""Settings declared once: a dataclass field carries its environment variable and help text.

Every other form of a setting is derived from that one declaration, so a new setting is one
line and none can be forgotten on one path (as `mass_delete_min_documents` once was under
Dagster): reading the environment (`values_from_env`), the flat name -> plain value form that
configuration systems speak (Dagster resources, a YAML file), and back (`build`, `flatten`).
Sections (a nested dataclass such as the quality thresholds) flatten with a name prefix.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KINDS = (bool, int, float, str, Path, tuple)


def setting(default: Any, env: str, help: str, *, required: bool = False,
            secret: bool = False, blank_is_value: bool = False,
            choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field that is a setting. `required`: no dataclass default (code that builds
    the dataclass must say it; the environment's default is still `default`). `blank_is_value`:
    an empty variable means the empty string (say, OCR off), not "unset"."""
    metadata = {"env": env, "help": help, "default": default, "secret": secret,
                "blank_is_value": blank_is_value, "choices": choices}
    if required:
        return field(metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def section(cls: type, prefix: str) -> Any:
    """A nested dataclass of settings, flattened as `prefix + name`."""
    return field(default_factory=cls, metadata={"section": prefix})


class SettingError(ValueError):
    """A setting's value cannot be used; the message names the variable."""


@dataclass(frozen=True)
class SettingField:
    """One setting, in flat form: `name` is unique across sections."""

    name: str
    path: tuple[str, ...]
    """Attribute names from the top dataclass down to the setting."""
    env: str
    help: str
    kind: type
    optional: bool
    default: Any
    """Flat form: a str for a Path, a list for a tuple."""
    secret: bool
    blank_is_value: bool
    choices: tuple[str, ...]

    @property
    def config_type(self) -> Any:
        """The plain type configuration systems hold: str for a Path, list[str] for globs."""
        plain: Any = {Path: str, tuple: list[str]}.get(self.kind, self.kind)
        return plain | None if self.optional else plain

    def parse(self, raw: str | None) -> Any:
        """The flat value of an environment variable's text; `None` when it is unset."""
        text = (raw or "").strip()
        if not text and not (raw is not None and self.blank_is_value):
            return None
        try:
            if self.kind is tuple:
                return [part.strip() for part in text.split(",") if part.strip()]
            if self.kind is bool:
                return text.lower() in {"1", "true", "yes", "on"}
            return self.kind(text) if self.kind in (int, float) else text
        except ValueError as exc:
            raise SettingError(f"{self.env} must be {self.kind.__name__}, got {text!r}") from exc

    def to_value(self, flat: Any) -> Any:
        """The dataclass value of a flat one (configuration may give an int for a float; an
        `EnvVar` gives the variable's text unstripped, as the environment reader does not)."""
        if isinstance(flat, str):
            flat = flat.strip()
        if flat is None or (self.optional and flat == ""):
            if not self.optional:
                raise SettingError(f"{self.name} ({self.env}) needs a value")
            return None
        if self.kind is Path:
            return Path(str(flat)).expanduser()
        if self.kind is tuple:
            if isinstance(flat, str) or not isinstance(flat, list | tuple):
                raise SettingError(f"{self.name} ({self.env}) is a list, got {flat!r}")
            return tuple(str(item) for item in flat)
        try:
            value = self.kind(flat)
        except (TypeError, ValueError) as exc:
            raise SettingError(f"{self.name} ({self.env}) must be {self.kind.__name__}, "
                               f"got {flat!r}") from exc
        if self.choices and value not in self.choices:
            raise SettingError(f"{self.name} ({self.env}) must be one of "
                               f"{', '.join(self.choices)}; got {value!r}")
        return value

    def to_flat(self, value: Any) -> Any:
        return _flat(self.kind, value)


def _flat(kind: type, value: Any) -> Any:
    if value is None:
        return None
    if kind is Path:
        return str(value)
    if kind is tuple:
        return list(value)
    return value


def _kind(annotation: Any) -> tuple[type, bool]:
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"a setting has one type besides None, not {annotation}")
        return _kind(kinds[0])[0], True
    base = typing.get_origin(annotation) or annotation
    if base not in _KINDS:
        raise TypeError(f"settings are {', '.join(k.__name__ for k in _KINDS)}, not {annotation}")
    return base, False


def fields_of(cls: type, prefix: str = "", path: tuple[str, ...] = ()) -> tuple[SettingField, ...]:
    """Every setting of `cls` and its sections, in declaration order."""
    hints = typing.get_type_hints(cls)
    found: list[SettingField] = []
    for f in dataclasses.fields(cls):
        if "section" in f.metadata:
            found.extend(fields_of(hints[f.name], prefix + f.metadata["section"],
                                   (*path, f.name)))
        elif "env" in f.metadata:
            kind, optional = _kind(hints[f.name])
            meta = f.metadata
            found.append(SettingField(
                name=prefix + f.name, path=(*path, f.name), env=meta["env"], help=meta["help"],
                kind=kind, optional=optional, secret=meta["secret"],
                blank_is_value=meta["blank_is_value"], choices=meta["choices"],
                default=_flat(kind, meta["default"])))
    names = [s.name for s in found]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise TypeError(f"settings declared twice: {sorted(duplicated)}")
    return tuple(found)


def values_from_env(fields: tuple[SettingField, ...],
                    environ: Mapping[str, str]) -> dict[str, Any]:
    """The flat values of the variables that are set."""
    values = {}
    for f in fields:
        value = f.parse(environ.get(f.env))
        if value is not None:
            values[f.name] = value
    return values


def build(cls: type, fields: tuple[SettingField, ...], values: Mapping[str, Any]) -> Any:
    """`cls` from flat values (the rest at their defaults). An unknown name is an error, so a
    misspelt setting in a configuration file cannot pass silently."""
    unknown = set(values) - {f.name for f in fields}
    if unknown:
        raise SettingError(f"unknown settings: {', '.join(sorted(unknown))}")
    tree: dict[str, Any] = {}
    for f in fields:
        node = tree
        for part in f.path[:-1]:
            node = node.setdefault(part, {})
        node[f.path[-1]] = f.to_value(values.get(f.name, f.default))
    return _construct(cls, tree)


def _construct(cls: type, tree: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{name: _construct(hints[name], value) if isinstance(value, dict) else value
                  for name, value in tree.items()})


def flatten(obj: Any, fields: tuple[SettingField, ...]) -> dict[str, Any]:
    """The flat values of a settings dataclass (the inverse of `build`)."""
    flat = {}
    for f in fields:
        value = obj
        for part in f.path:
            value = getattr(value, part)
        flat[f.name] = f.to_flat(value)
    return flat
