"""Filters on what a chunk's payload says about its document (`DocumentFacts`): its file type,
the folders it is in, when it was modified. The index engine applies them before ranking, to
dense and BM25 candidates alike; each adapter translates a `SearchFilter` into its own terms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

TYPE_FIELD = "type"
FOLDERS_FIELD = "folders"
MODIFIED_FIELD = "modified_at"
FILTER_FIELDS = (TYPE_FIELD, FOLDERS_FIELD)
"""Keyword-indexed payload fields (`modified_at` has an integer index)."""
_KEYS = {"type": "types", "folder": "folders"}


@dataclass(frozen=True)
class SearchFilter:
    """Chunks of documents of any of `types`, under any of `folders`, modified at or after
    `modified_since` (seconds since the epoch); empty parts do not filter."""

    types: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    modified_since: int | None = None

    def __bool__(self) -> bool:
        return bool(self.types or self.folders or self.modified_since is not None)

    @classmethod
    def parse(cls, where: Iterable[str] = (), since: str | None = None) -> SearchFilter:
        """From `--where type=pdf --where folder=handbook/ --since 2026-01-01`; ValueError
        says what is wrong with a condition."""
        values: dict[str, list[str]] = {"types": [], "folders": []}
        for condition in where:
            key, sep, value = condition.partition("=")
            if not sep or key.strip() not in _KEYS or not value.strip():
                raise ValueError(f"--where {condition!r}: expected type=EXT or folder=PATH/")
            values[_KEYS[key.strip()]].append(value.strip())
        return cls(types=tuple(normal_type(t) for t in values["types"]),
                   folders=tuple(normal_folder(f) for f in values["folders"]),
                   modified_since=None if since is None else epoch_seconds(since))


def normal_type(value: str) -> str:
    return value.strip().lstrip(".").lower()


def normal_folder(value: str) -> str:
    """`handbook`, `/handbook/` and `handbook/` are the same folder: `handbook/`."""
    return value.strip().strip("/") + "/"


def epoch_seconds(value: str | date | datetime) -> int:
    """An ISO date or time (UTC unless it says otherwise) as seconds since the epoch."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"--since {value!r}: expected a date such as 2026-01-01") from exc
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())
