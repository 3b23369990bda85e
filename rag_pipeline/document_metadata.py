"""What people say about a document besides its text: a title and tags to filter on.

Three places can say it, merged in this order (a later title wins, tags add up):
- the object store's user metadata of the object (S3 `x-amz-meta-*`), read by the source;
- Markdown front matter (a YAML block between `---` lines at the top of the file), which is
  then not part of the text;
- a sidecar file `<file>.meta.json` beside the document (`{"title": ..., "tags": [...]}`),
  which works for every format and every source. It is not a document itself.

`tags` may be a list or a comma-separated string; any other plain key becomes a `key=value`
tag, so `x-amz-meta-team: hr` and `{"team": "hr"}` are both the tag `team=hr`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.json"
FRONT_MATTER_SUFFIXES = frozenset({".md", ".markdown"})
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.DOTALL)
_FRONT_MATTER_MAX_BYTES = 64 * 1024
_MAX_TAGS = 64
_MAX_TAG_CHARS = 200


@dataclass(frozen=True)
class UserMetadata:
    title: str | None = None
    tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.title or self.tags)

    def merged(self, later: UserMetadata) -> UserMetadata:
        tags = tuple(dict.fromkeys((*self.tags, *later.tags)))[:_MAX_TAGS]
        return UserMetadata(title=later.title or self.title, tags=tags)

    def digest(self) -> str:
        """Changes with the metadata: it is part of what a document's hash covers."""
        text = json.dumps({"title": self.title, "tags": list(self.tags)}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sidecar(name: str) -> bool:
    return name.endswith(SIDECAR_SUFFIX) and len(name) > len(SIDECAR_SUFFIX)


def sidecar_name(document_name: str) -> str:
    return document_name + SIDECAR_SUFFIX


def from_mapping(values: Mapping[str, Any]) -> UserMetadata:
    """Title and tags from a sidecar, front matter or an object's user metadata."""
    title: str | None = None
    tags: list[str] = []
    for key, value in values.items():
        name = str(key).strip().lower()
        if name == "title" and isinstance(value, str | int | float):
            title = str(value).strip() or None
        elif name == "tags":
            items = value.split(",") if isinstance(value, str) else value
            if isinstance(items, Mapping):
                tags.extend(f"{k}={v}" for k, v in items.items())
            elif isinstance(items, list | tuple):
                tags.extend(str(item) for item in items if isinstance(item, str | int | float))
        elif isinstance(value, str | int | float | bool) and name:
            tags.append(f"{name}={value}")
    cleaned = (" ".join(tag.split())[:_MAX_TAG_CHARS] for tag in tags)
    return UserMetadata(title=title, tags=tuple(dict.fromkeys(t for t in cleaned if t)))


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, the text after it); ({}, text) when there is none or it is not YAML
    (then it stays text: nothing is lost)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        values = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, text
    if not isinstance(values, dict):
        return {}, text
    return values, text[match.end():]


def may_have_front_matter(path: Path) -> bool:
    """A Markdown file that starts with `---`: the few bytes that spare reading the others."""
    if path.suffix.lower() not in FRONT_MATTER_SUFFIXES:
        return False
    with path.open("rb") as handle:
        return handle.read(6).removeprefix(b"\xef\xbb\xbf").startswith(b"---")


def read_front_matter(path: Path) -> UserMetadata:
    if not may_have_front_matter(path):
        return UserMetadata()
    with path.open("rb") as handle:
        head = handle.read(_FRONT_MATTER_MAX_BYTES).decode("utf-8", errors="replace")
    return from_mapping(split_front_matter(head)[0])


def sidecar_beside(document: Path) -> UserMetadata:
    """The metadata of the sidecar next to a local file (none: empty)."""
    return read_sidecar(document.with_name(sidecar_name(document.name)))


def read_sidecar(path: Path) -> UserMetadata:
    """A sidecar's metadata; a malformed one is skipped with a warning naming it (the
    document is still indexed, without that metadata)."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UserMetadata()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring %s: not a readable JSON object (%s)", path.name, exc)
        return UserMetadata()
    if not isinstance(values, dict):
        logger.warning("ignoring %s: a JSON object was expected", path.name)
        return UserMetadata()
    return from_mapping(values)
