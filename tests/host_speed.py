"""Time limits in the tests, scaled to how fast this host runs.

A limit in a test guards against a hang (a server that never starts, a run that never ends) or
makes a fault happen (a request that outlasts its timeout, an extraction that outlasts its
limit). Each was set on the machine the suite was written on, and a host several times slower
turned the suite red on limits, not on behaviour. So every limit is written as its value on
that machine and goes through `budget`, which multiplies it by how much slower this host runs
a fixed pure-Python loop, measured once per test process: never less than the value itself.

`RAG_TEST_TIME_SCALE` sets the factor instead (a host known to be slow, or one whose speed
changes during the run: the loop measures only its start)."""

from __future__ import annotations

import os
import time
from functools import cache

REFERENCE_LOOP_SECONDS = 0.15
"""The loop's time on the machine the limits were set on (best of three)."""
_LOOP_ADDITIONS = 5_000_000
"""Long enough to span several of a CPU quota's 100 ms periods, so a throttled host shows."""


def _loop_seconds() -> float:
    started = time.perf_counter()
    total = 0
    for number in range(_LOOP_ADDITIONS):
        total += number
    return time.perf_counter() - started


@cache
def slowness() -> float:
    """How many times slower than the reference machine this host runs (at least 1)."""
    configured = os.environ.get("RAG_TEST_TIME_SCALE", "").strip()
    if configured:
        return max(1.0, float(configured))
    return max(1.0, min(_loop_seconds() for _ in range(3)) / REFERENCE_LOOP_SECONDS)


def budget(seconds: float) -> float:
    """A time limit set on the reference machine, for this host."""
    return seconds * slowness()
