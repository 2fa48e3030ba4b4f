"""A poller killed without warning (``kill -9``: no cleanup at all) and a fresh one on the
same database: the operation is finished from its stored handle, announced exactly once, and
Azure never sees a second POST."""

from __future__ import annotations

import threading
from datetime import timedelta

from bot.domain.request import RequestStatus
from bot.notifications import Milestone

from .conftest import LEASE_TTL, POLL_INTERVAL, Bench


def test_a_new_process_resumes_a_running_operation_without_a_second_post(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    first = bench.poller("pod-1")
    bench.run([first], until=lambda: bool(bench.slack.milestones(request_id)))
    polls_before = len(bench.gateway.polls)
    del first  # killed: no close(), its threads and memory simply gone

    second = bench.poller("pod-2")
    bench.run([second], until=lambda: bool(bench.slack.of("completed")))
    for _ in range(30):
        bench.clock.advance(timedelta(seconds=5))
        second.run_once()

    assert len(bench.gateway.polls) > polls_before  # the new process did the polling
    assert bench.gateway.calls["start_failover"] == 1
    assert bench.get(request_id).status is RequestStatus.SUCCEEDED
    assert len(bench.slack.of("completed", request_id)) == 1
    assert bench.slack.milestones(request_id) == [Milestone.STARTED]


def test_a_process_killed_while_holding_the_lease_is_taken_over_after_the_lease(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    bench.clock.advance(timedelta(seconds=10))
    # pod-1 claimed the operation, then died before it polled.
    with bench.uow() as uow:
        assert [r.id for r in uow.leases.claim_due("pod-1", bench.clock.now(), LEASE_TTL,
                                                     10)] == [request_id]
        uow.commit()
    claimed_at = bench.clock.now()

    second = bench.poller("pod-2")
    bench.run([second], until=lambda: bool(bench.gateway.polls))

    assert bench.gateway.polls[0][0] - claimed_at >= LEASE_TTL
    assert bench.gateway.polls[0][0] - claimed_at <= LEASE_TTL + timedelta(seconds=1)
    bench.run([second], until=lambda: bool(bench.slack.of("completed")))
    assert bench.gateway.calls["start_failover"] == 1
    assert len(bench.slack.of("completed", request_id)) == 1


def test_a_milestone_unsent_when_the_process_died_is_sent_once_by_its_successor(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu", devices=500_000))  # ~3 min at speed 8
    first = bench.poller("pod-1")
    bench.slack.down = True
    bench.clock.advance(timedelta(seconds=10))
    first.run_once()  # polled, STARTED queued behind a Slack outage, lease kept for it
    del first
    bench.slack.down = False

    polls_before = len(bench.gateway.polls)
    second = bench.poller("pod-2")
    second.run_once()
    assert len(bench.gateway.polls) == polls_before  # pod-1's lease still stands
    assert bench.slack.milestones(request_id) == []

    bench.run([second], until=lambda: bool(bench.slack.of("completed")))
    assert bench.slack.milestones(request_id) == [Milestone.STARTED]
    assert len(bench.slack.of("completed", request_id)) == 1


def test_a_completion_unsent_when_the_process_died_is_sent_once_after_restart(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    first = bench.poller("pod-1")
    bench.run([first], until=lambda: bool(bench.slack.milestones(request_id)))
    bench.slack.down = True
    bench.run([first], until=lambda: bench.get(request_id).status.is_terminal)
    del first  # the completion was only in its memory
    bench.slack.down = False

    second = bench.poller("pod-2")
    bench.run([second], until=lambda: bool(bench.slack.of("completed")))
    for _ in range(30):
        bench.clock.advance(timedelta(seconds=5))
        second.run_once()

    assert len(bench.slack.of("completed", request_id)) == 1
    assert bench.gateway.calls["start_failover"] == 1


def test_an_approved_request_left_unstarted_is_started_once_by_the_poller(
        bench: Bench) -> None:
    request = bench.request(bench.hub("contoso-weu"))  # approved; its approver then died
    with bench.uow() as uow:
        uow.leases.schedule_poll(request.id, bench.clock.now())
        uow.commit()
    replicas = [bench.poller("pod-1"), bench.poller("pod-2")]

    bench.run(replicas, until=lambda: bool(bench.slack.of("completed")))

    assert bench.gateway.calls["start_failover"] == 1
    assert bench.get(request.id).status is RequestStatus.SUCCEEDED
    assert len(bench.slack.of("completed", request.id)) == 1


class OneRound(threading.Event):
    """A stop signal that is raised by the first wait, so run_forever never really waits."""

    def wait(self, timeout: float | None = None) -> bool:
        self.waited = timeout
        self.set()
        return True


def test_run_forever_runs_rounds_until_stopped_and_hands_its_leases_back(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu", devices=500_000))
    bench.clock.advance(timedelta(seconds=10))
    bench.slack.down = True  # the STARTED reply cannot go out: the lease is kept for it
    stop = OneRound()

    bench.poller("pod-1").run_forever(stop)

    assert stop.waited == 1.0  # a message waits: look again in a second
    assert len(bench.gateway.polls) == 1
    bench.slack.down = False
    bench.clock.advance(POLL_INTERVAL)  # the next poll is due, long before pod-1's lease ran out
    bench.poller("pod-2").run_once()
    assert len(bench.gateway.polls) == 2
    assert bench.slack.milestones(request_id) == [Milestone.STARTED]


def test_a_full_batch_is_followed_by_the_next_round_at_once(bench: Bench) -> None:
    """With more operations due than one batch holds, the poller must not idle between them."""
    for name in ("hub-one", "hub-two", "hub-three"):
        bench.start(bench.hub(name, devices=500_000))
    bench.clock.advance(POLL_INTERVAL)
    stop = OneRound()

    bench.poller("pod-1", batch_size=2).run_forever(stop)

    assert len(bench.gateway.polls) == 3  # all polled before it first idled


def test_the_poller_wakes_when_its_next_poll_is_due_not_a_tick_later(bench: Bench) -> None:
    bench.start(bench.hub("contoso-weu", devices=500_000))
    poller = bench.poller("pod-1")
    bench.clock.advance(POLL_INTERVAL)
    poller.run_once()  # polls, and schedules the next poll one interval later
    bench.clock.advance(POLL_INTERVAL - timedelta(seconds=2))
    assert poller.next_wait() == timedelta(seconds=2)
