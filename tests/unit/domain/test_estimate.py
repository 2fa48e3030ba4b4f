"""How long a failover will take: from the device count, nudged by the hub's history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.rules import estimate_duration

MINUTE = timedelta(minutes=1)
device_counts = st.integers(min_value=0, max_value=10**9)


@pytest.mark.parametrize(
    ("devices", "minutes"),
    [(None, 8), (0, 8), (100_000, 15), (5_000_000, 60)],
)
def test_documented_anchors(devices: int | None, minutes: int) -> None:
    assert estimate_duration(devices) == timedelta(minutes=minutes)


def test_between_anchors_the_estimate_lies_between_them() -> None:
    assert 8 * MINUTE < estimate_duration(50_000) < 15 * MINUTE
    assert 15 * MINUTE < estimate_duration(1_000_000) < 60 * MINUTE
    assert estimate_duration(10_000_000) > 60 * MINUTE


def test_a_negative_device_count_is_treated_as_an_empty_hub() -> None:
    assert estimate_duration(-5) == estimate_duration(0)


@given(device_counts, device_counts)
def test_more_devices_never_means_a_shorter_estimate(a: int, b: int) -> None:
    fewer, more = sorted((a, b))
    assert estimate_duration(fewer) <= estimate_duration(more)


@given(device_counts)
def test_the_estimate_is_at_least_the_empty_hub_time(devices: int) -> None:
    assert estimate_duration(devices) >= 8 * MINUTE


@given(device_counts,
       st.lists(st.integers(min_value=1, max_value=240).map(lambda m: m * MINUTE),
                min_size=1, max_size=9))
def test_history_pulls_the_estimate_towards_the_hubs_median(
    devices: int, past: list[timedelta]
) -> None:
    base = estimate_duration(devices)
    median = sorted(past)[len(past) // 2]
    nudged = estimate_duration(devices, past)
    assert min(base, median) - MINUTE / 1000 <= nudged <= max(base, median) + MINUTE / 1000
    assert abs(nudged - median) <= abs(base - median)


def test_a_hub_that_always_took_30_minutes_is_expected_to_take_about_that() -> None:
    nudged = estimate_duration(0, [30 * MINUTE] * 3)
    assert 20 * MINUTE < nudged < 30 * MINUTE
