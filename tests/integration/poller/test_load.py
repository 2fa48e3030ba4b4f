"""Hundreds of failovers at once in one process: Slack's limits hold at the limiter's output
and every operation's end is reported exactly once."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

from bot.domain.request import RequestStatus
from bot.poller import RateLimitedNotifier

from .conftest import Bench, Sent

OPERATIONS = 500
CHANNELS = [f"C_INC_{i}" for i in range(5)]
POSTS = {"milestone", "completed"}
UPDATES = {"request_changed", "progress", "completed"}


def most_in_any_minute(times: list[datetime]) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= timedelta(minutes=1):
            start += 1
        most = max(most, end - start + 1)
    return most


def test_500_concurrent_failovers_stay_within_slacks_limits_and_each_end_is_told_once(
        bench: Bench) -> None:
    bench.gateway.speed = 30  # every hub in this fleet fails over within a few minutes
    refs = bench.gateway.generate_fleet(OPERATIONS)
    ids = [bench.start(ref.name, CHANNELS[i % len(CHANNELS)]) for i, ref in enumerate(refs)]
    limited = RateLimitedNotifier(bench.slack, bench.clock)
    poller = bench.poller(notifier=limited, max_workers=16, batch_size=200)

    bench.run([poller], until=lambda: len(bench.slack.of("completed")) == OPERATIONS,
              max_rounds=4 * 3600)

    sent: list[Sent] = bench.slack.sent
    posts: dict[str, list[datetime]] = defaultdict(list)
    for s in sent:
        if s.method in POSTS:
            posts[s.channel].append(s.at)
    for times in posts.values():
        assert all(b - a >= timedelta(seconds=1) for a, b in pairwise(times))
    assert most_in_any_minute([s.at for s in sent if s.method in UPDATES]) <= 50
    assert Counter(s.request_id for s in bench.slack.of("completed")) == Counter(ids)
    assert all(bench.get(i).status is RequestStatus.SUCCEEDED for i in ids)
    assert bench.gateway.calls["start_failover"] == OPERATIONS
    assert bench.gateway.overlaps == []
    with bench.uow() as uow:
        assert uow.announcements.unnotified() == []
