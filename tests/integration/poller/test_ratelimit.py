"""The limiter in front of Slack: what it sends, when, and what it never drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.notifications import CompletionReport, Milestone, ProgressUpdate
from bot.poller import RateLimitedNotifier

from .conftest import RecordingNotifier

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def running(n: int, channel: str = "C_ONE") -> FailoverRequest:
    return FailoverRequest(
        id=f"fr-{n:08x}", hub=HubRef(f"hub-{n}", "sub", "rg"), kind=OperationKind.FAILOVER,
        status=RequestStatus.RUNNING, requested_by="U1", reason="INC-1", channel_id=channel,
        created_at=T0, expires_at=T0 + timedelta(minutes=30), region_before="westeurope",
        region_target="northeurope", started_at=T0)


def progress(request: FailoverRequest, minutes: int,
             milestone: Milestone | None = None) -> ProgressUpdate:
    return ProgressUpdate(request, timedelta(minutes=minutes), timedelta(minutes=15), milestone)


def done(request: FailoverRequest) -> CompletionReport:
    return CompletionReport(request.evolve(status=RequestStatus.SUCCEEDED, version=3), None, 1,
                            None)


def setup() -> tuple[FakeClock, RecordingNotifier, RateLimitedNotifier]:
    clock = FakeClock(T0)
    slack = RecordingNotifier(clock)
    return clock, slack, RateLimitedNotifier(slack, clock)


def test_only_the_latest_progress_of_a_request_is_sent() -> None:
    _, slack, limiter = setup()
    request = running(1)
    for minute in range(5):
        limiter.progress(progress(request, minute))

    limiter.flush()

    assert [s.method for s in slack.sent] == ["progress"]
    assert len(limiter.flush()) == 0


def test_one_post_per_second_per_channel_and_other_channels_are_not_held_up() -> None:
    clock, slack, limiter = setup()
    a1, a2, b1 = running(1, "C_A"), running(2, "C_A"), running(3, "C_B")
    for request in (a1, a2, b1):
        limiter.progress(progress(request, 0, Milestone.STARTED))

    limiter.flush()
    assert [s.request_id for s in slack.sent] == [a1.id, b1.id]
    clock.advance(timedelta(milliseconds=999))
    limiter.flush()
    assert len(slack.sent) == 2
    clock.advance(timedelta(milliseconds=1))
    limiter.flush()
    assert [s.request_id for s in slack.sent] == [a1.id, b1.id, a2.id]


def test_at_most_50_edits_a_minute_and_completions_go_first() -> None:
    clock, slack, limiter = setup()
    requests = [running(n, f"C_{n}") for n in range(80)]
    for request in requests:
        limiter.progress(progress(request, 1))
    limiter.completed(done(requests[79]))

    limiter.flush()

    assert len(slack.sent) == 50
    assert slack.sent[0].method == "completed"
    assert not slack.of("progress", requests[79].id)  # superseded by the completion
    clock.advance(timedelta(seconds=59))
    limiter.flush()
    assert len(slack.sent) == 50
    clock.advance(timedelta(seconds=1))
    limiter.flush()
    assert len(slack.sent) == 80  # 79 progress edits and the completion
    assert limiter.backlog() == 0


def test_a_failed_completion_stays_queued_in_order_and_is_retried() -> None:
    clock, slack, limiter = setup()
    request = running(1)
    limiter.progress(progress(request, 0, Milestone.STARTED))
    limiter.completed(done(request))
    slack.down = True

    assert limiter.flush() == []
    slack.down = False
    limiter.flush()  # the retry waits for its back-off
    assert slack.sent == []

    for _ in range(5):
        clock.advance(timedelta(seconds=1))
        limiter.flush()

    assert [s.method for s in slack.sent] == ["milestone", "completed"]
    assert limiter.backlog() == 0
