"""Filters on what a chunk's payload says about its document (`DocumentFacts`): its file type,
the folders it is in, its tags, when it was modified. The index engine applies them before
ranking, to dense and BM25 candidates alike; each adapter translates a `SearchFilter` into its
own terms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

TYPE_FIELD = "type"
FOLDERS_FIELD = "folders"
TAGS_FIELD = "tags"
MODIFIED_FIELD = "modified_at"
FILTER_FIELDS = (TYPE_FIELD, FOLDERS_FIELD, TAGS_FIELD)
"""Keyword-indexed payload fields (`modified_at` has an integer index)."""
_KEYS = {"type": "types", "folder": "folders", "tag": "tags"}


@dataclass(frozen=True)
class SearchFilter:
    """Chunks of documents of any of `types`, under any of `folders`, with any of `tags`,
    modified at or after `modified_since` (seconds since the epoch); empty parts do not
    filter, the parts that are given must all hold."""

    types: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    modified_since: int | None = None

    def __bool__(self) -> bool:
        return bool(self.types or self.folders or self.tags or self.modified_since is not None)

    def keyword_conditions(self) -> list[tuple[str, list[str]]]:
        """(payload field, any of these values) for each part given."""
        parts = ((TYPE_FIELD, self.types), (FOLDERS_FIELD, self.folders),
                 (TAGS_FIELD, self.tags))
        return [(name, list(values)) for name, values in parts if values]

    @classmethod
    def parse(cls, where: Iterable[str] = (), since: str | None = None) -> SearchFilter:
        """From `--where type=pdf --where folder=handbook/ --since 2026-01-01`; ValueError
        says what is wrong with a condition."""
        values: dict[str, list[str]] = {"types": [], "folders": [], "tags": []}
        for condition in where:
            key, sep, value = condition.partition("=")
            if not sep or key.strip() not in _KEYS or not value.strip():
                raise ValueError(f"--where {condition!r}: expected type=EXT, folder=PATH/ or "
                                 "tag=TAG")
            values[_KEYS[key.strip()]].append(value.strip())
        return cls(types=tuple(normal_type(t) for t in values["types"]),
                   folders=tuple(normal_folder(f) for f in values["folders"]),
                   tags=tuple(" ".join(t.split()) for t in values["tags"]),
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
