"""What people in the channel see of one operation: progress, milestones, one completion."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.model import AuditAction
from bot.domain.regions import same_region
from bot.domain.request import RequestStatus
from bot.notifications import Milestone
from bot.store.base import AuditQuery

from .conftest import Bench


def finished(bench: Bench, request_id: str) -> bool:
    return bench.get(request_id).status.is_terminal


def test_a_failover_is_reported_started_then_in_progress_then_completed_once(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    poller = bench.poller()

    bench.run([poller], until=lambda: bool(bench.slack.of("completed")))
    for _ in range(30):  # and nothing more, however long it keeps running
        bench.clock.advance(timedelta(seconds=5))
        poller.run_once()

    assert bench.get(request_id).status is RequestStatus.SUCCEEDED
    assert bench.slack.milestones(request_id) == [Milestone.STARTED]
    assert len(bench.slack.of("completed", request_id)) == 1
    assert len(bench.slack.of("progress", request_id)) >= 2
    report = bench.slack.reports[0]
    assert same_region(report.request.region_after or "", "North Europe")
    assert report.hub is not None and report.quota_left == 1
    methods = [s.method for s in bench.slack.sent if s.request_id == request_id]
    assert methods.index("milestone") < methods.index("completed") == len(methods) - 1
    assert bench.gateway.calls["start_failover"] == 1
    with bench.uow() as uow:
        assert uow.announcements.unnotified() == []


def test_the_completion_follows_azure_within_one_poll_interval(bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    poller = bench.poller()

    bench.run([poller], until=lambda: finished(bench, request_id))

    request = bench.get(request_id)
    assert request.completed_at is not None
    op_end = bench.gateway.get_state(request.hub)  # settled: the hub is in its new region
    assert same_region(op_end.active_region, "North Europe")
    sent = bench.slack.of("completed", request_id)[0]
    assert sent.at - request.started_at <= request.duration + timedelta(seconds=10)  # type: ignore[operator]


def test_an_operation_slower_than_estimated_gets_one_slow_reply(bench: Bench) -> None:
    bench.gateway.speed = 0.5  # twice as long as Azure's documented figures
    request_id = bench.start(bench.hub("contoso-weu"))
    poller = bench.poller()

    bench.run([poller], until=lambda: bool(bench.slack.of("completed")),
              step=timedelta(seconds=10))

    assert bench.slack.milestones(request_id) == [Milestone.STARTED, Milestone.SLOW]
    slow = bench.slack.of("milestone", request_id)[1]
    assert slow.at - bench.get(request_id).started_at > timedelta(minutes=10)  # type: ignore[operator]
    with bench.uow() as uow:
        recorded = uow.events.search(AuditQuery(request_id=request_id,
                                                actions=frozenset({AuditAction.PROGRESS})))
    assert sorted(e.detail["milestone"] for e in recorded) == ["slow", "started"]


def test_a_completion_slack_could_not_take_is_sent_later_and_only_once(bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    poller = bench.poller()
    bench.slack.down = True

    bench.run([poller], until=lambda: finished(bench, request_id))
    for _ in range(20):
        bench.clock.advance(timedelta(seconds=5))
        poller.run_once()
    assert bench.slack.sent == []

    bench.slack.down = False
    bench.run([poller], until=lambda: bool(bench.slack.of("completed")),
              step=timedelta(seconds=5))
    for _ in range(100):
        bench.clock.advance(timedelta(seconds=5))
        poller.run_once()

    assert len(bench.slack.of("completed", request_id)) == 1
    assert bench.slack.milestones(request_id) == [Milestone.STARTED]


def test_expired_requests_are_expired_and_their_message_updated(bench: Bench) -> None:
    bench.service.access = bench.service.access.__class__(require_approval=True)
    waiting = bench.request(bench.hub("contoso-weu"))
    poller = bench.poller()

    poller.run_once()
    assert bench.get(waiting.id).status is RequestStatus.AWAITING_APPROVAL

    bench.clock.advance(timedelta(minutes=31))
    assert poller.run_once().expired == 1

    assert bench.get(waiting.id).status is RequestStatus.EXPIRED
    changed = bench.slack.of("request_changed", waiting.id)
    assert changed and changed[-1].status is RequestStatus.EXPIRED
    with bench.uow() as uow:
        assert uow.announcements.unnotified() == []
