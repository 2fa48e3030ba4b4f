"""Throttling and outages at Azure: polls back off (with jitter, up to a cap) and the
operation still completes and is reported once."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import pairwise

from bot.domain.request import RequestStatus
from bot.poller import PollSchedule

from .conftest import POLL_INTERVAL, Bench


def gaps(times: list[datetime]) -> list[timedelta]:
    return [b - a for a, b in pairwise(times)]


def test_a_429_storm_spaces_polls_out_more_and_more_and_still_completes(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu", devices=500_000))
    bench.gateway.inject("contoso-weu", throttle_polls=6, retry_after=1)
    poller = bench.poller()

    bench.run([poller], until=lambda: bool(bench.slack.of("completed")))

    handle = bench.get(request_id).operation_handle
    assert handle
    throttled = gaps(bench.gateway.poll_times(handle)[:7])
    assert throttled == sorted(throttled)  # each wait at least as long as the one before
    assert throttled[-1] >= 4 * throttled[0]
    assert bench.get(request_id).status is RequestStatus.SUCCEEDED
    assert len(bench.slack.of("completed", request_id)) == 1


def test_azures_retry_after_is_honoured_when_it_asks_for_longer(bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu", devices=500_000))
    bench.gateway.inject("contoso-weu", throttle_polls=1, retry_after=120)
    poller = bench.poller()

    bench.run([poller], until=lambda: len(bench.gateway.polls) >= 2)

    handle = bench.get(request_id).operation_handle
    assert handle
    assert gaps(bench.gateway.poll_times(handle)) == [timedelta(seconds=120)]


def test_transient_errors_back_off_then_polling_returns_to_the_interval(bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu", devices=500_000))
    bench.gateway.inject("contoso-weu", transient_errors=3)
    poller = bench.poller()

    bench.run([poller], until=lambda: len(bench.gateway.polls) >= 6)

    handle = bench.get(request_id).operation_handle
    assert handle
    waits = gaps(bench.gateway.poll_times(handle))
    assert waits[0] < waits[1] < waits[2]  # three failures in a row
    assert waits[3:] == [POLL_INTERVAL, POLL_INTERVAL]  # answered again: back to normal


def test_backoff_grows_to_a_cap_and_jitter_spreads_replicas() -> None:
    schedule = PollSchedule(timedelta(seconds=30), max_backoff=timedelta(minutes=5))
    rng = random.Random(3)

    waits = [schedule.after_failure(n, None, rng) for n in range(1, 12)]

    assert waits[:4] == sorted(waits[:4])
    assert max(waits) <= timedelta(minutes=5)
    assert waits[-1] >= timedelta(minutes=2, seconds=30)
    spread = {schedule.after_failure(3, None, random.Random(seed)) for seed in range(20)}
    assert len(spread) > 10
    assert schedule.after_failure(1, 90, rng) >= timedelta(seconds=90)
    assert schedule.after_poll(None) == timedelta(seconds=30)
    assert schedule.after_poll(7) == timedelta(seconds=7)
