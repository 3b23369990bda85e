"""The retrievers a search can use, in a module of their own so that the CLI can list them
without importing the search machinery (a cold search loads its model meanwhile)."""

from __future__ import annotations

from typing import Literal

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
