"""The suite's time limits follow the host's speed (`tests.host_speed`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import host_speed


@pytest.fixture
def fresh_measure(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("RAG_TEST_TIME_SCALE", raising=False)
    host_speed.slowness.cache_clear()
    yield monkeypatch
    host_speed.slowness.cache_clear()


def test_a_host_that_runs_the_loop_slower_gets_longer_limits(
        fresh_measure: pytest.MonkeyPatch) -> None:
    fresh_measure.setattr(host_speed, "_loop_seconds",
                          lambda: 8 * host_speed.REFERENCE_LOOP_SECONDS)
    assert host_speed.budget(30) == pytest.approx(240)


def test_a_faster_host_keeps_the_limits_as_set(fresh_measure: pytest.MonkeyPatch) -> None:
    fresh_measure.setattr(host_speed, "_loop_seconds",
                          lambda: host_speed.REFERENCE_LOOP_SECONDS / 4)
    assert host_speed.budget(30) == 30


def test_the_factor_can_be_set(fresh_measure: pytest.MonkeyPatch) -> None:
    fresh_measure.setenv("RAG_TEST_TIME_SCALE", "2.5")
    fresh_measure.setattr(host_speed, "_loop_seconds", lambda: pytest.fail("not measured"))
    assert host_speed.budget(10) == 25
