"""Drills: Azure throttles and fails while a failover runs; Slack is down when it ends. The
failover completes, Azure sees one POST, the completion is posted exactly once, and the audit
log tells the story once."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus

from .conftest import HUB, Ground


def test_a_storm_of_429s_and_503s_from_azure_delays_but_never_duplicates(
        ground: Ground) -> None:
    request = ground.started()
    poller = ground.poller()
    ground.gateway.inject(HUB, throttle_polls=8, retry_after=20)
    ground.gateway.inject(HUB, transient_errors=8)

    ground.run(poller, until=lambda: bool(ground.completion_posts()), step=timedelta(seconds=15))

    assert ground.status(request.id) is RequestStatus.SUCCEEDED
    assert ground.gateway.calls["start_failover"] == 1
    assert ground.audit(request.id, AuditAction.STARTED) == 1
    assert ground.audit(request.id, AuditAction.SUCCEEDED) == 1
    assert len(ground.completion_posts()) == 1


def test_slack_down_at_completion_posts_the_completion_once_when_it_is_back(
        ground: Ground) -> None:
    request = ground.started()
    poller = ground.poller()
    poller.run_once()
    for method in ("chat.postMessage", "chat.update"):
        ground.slack.fail_next(method, "service_unavailable", status=503, times=40)

    ground.run(poller, until=lambda: ground.status(request.id).is_terminal)
    assert ground.completion_posts() == []  # Slack is still down: nothing told yet
    ground.run(poller, until=lambda: bool(ground.completion_posts()), step=timedelta(seconds=15))
    for _ in range(50):  # long after: no second copy
        ground.clock.advance(30)
        poller.run_once()

    assert len(ground.completion_posts()) == 1
    assert f"({request.id}) succeeded" in ground.completion_posts()[0].text
    assert ground.gateway.calls["start_failover"] == 1
    assert ground.audit(request.id, AuditAction.SUCCEEDED) == 1
    with ground.uow() as uow:
        assert uow.announcements.unnotified() == []
