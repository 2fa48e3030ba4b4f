"""Two replicas on one database: never two polls of one operation, and takeover when one
stops renewing its leases."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from bot.domain.request import RequestStatus
from bot.poller import Poller

from .conftest import LEASE_TTL, Bench


def run_side_by_side(bench: Bench, pollers: list[Poller], rounds: int) -> None:
    """Each round, every replica's run_once on its own thread, started together."""
    for _ in range(rounds):
        gate = threading.Barrier(len(pollers))
        errors: list[BaseException] = []

        def run(poller: Poller, gate: threading.Barrier = gate,
                errors: list[BaseException] = errors) -> None:
            gate.wait()
            try:
                poller.run_once()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(p,)) for p in pollers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        bench.clock.advance(timedelta(seconds=1))


def test_two_replicas_never_poll_one_operation_at_once_and_report_each_end_once(
        bench: Bench) -> None:
    ids = [bench.start(bench.hub(f"hub-{i:02d}", devices=1_000 + 20_000 * i))
           for i in range(12)]
    replicas = [bench.poller("replica-a", max_workers=4), bench.poller("replica-b",
                                                                        max_workers=4)]

    run_side_by_side(bench, replicas, rounds=240)

    assert all(bench.get(i).status is RequestStatus.SUCCEEDED for i in ids)
    assert bench.gateway.overlaps == []
    polls_per_instant = Counter(bench.gateway.polls)
    assert max(polls_per_instant.values()) == 1  # never two polls of one handle in a round
    assert Counter(s.request_id for s in bench.slack.of("completed")) == Counter(ids)
    assert bench.gateway.calls["start_failover"] == len(ids)


def test_a_replica_that_stops_renewing_is_taken_over_within_one_lease(bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu", devices=500_000))
    stalled, healthy = bench.poller("replica-a"), bench.poller("replica-b")
    bench.slack.down = True  # replica-a keeps its lease for the STARTED it cannot send
    bench.clock.advance(timedelta(seconds=10))
    stalled.run_once()
    handle = bench.get(request_id).operation_handle
    assert handle and bench.gateway.poll_times(handle) == [bench.clock.now()]
    stalled_at = bench.clock.now()
    bench.slack.down = False

    # replica-a hangs from here on: it never runs another round, never renews.
    bench.run([healthy], until=lambda: len(bench.gateway.poll_times(handle)) > 1)

    taken_over_at = bench.gateway.poll_times(handle)[1]
    assert LEASE_TTL <= taken_over_at - stalled_at <= LEASE_TTL + timedelta(seconds=1)
    bench.run([healthy], until=lambda: bool(bench.slack.of("completed")))
    assert len(bench.slack.of("completed", request_id)) == 1
    assert len(bench.slack.of("milestone", request_id)) == 1
