"""The poller around a start (#13): "accepted" only once Azure answered, retries of a start
Azure did not take spaced out by back-off, leases kept by a heartbeat and a dead process's
leases reclaimed at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from bot.domain.model import AuditAction, HubRef
from bot.domain.request import RequestStatus
from bot.hubs.gateway import TransientError
from bot.notifications import Milestone
from bot.poller.heartbeat import LeaseHeartbeat, owner_is_dead, process_owner_id
from bot.store.base import AuditQuery

from .conftest import LEASE_TTL, POLL_INTERVAL, Bench


def _gone_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _actions(bench: Bench, request_id: str) -> list[AuditAction]:
    return [e.action for e in bench.service.reading.audit(AuditQuery(request_id=request_id,
                                                             limit=500))]


def test_accepted_is_said_only_once_azure_has_the_operation(bench: Bench) -> None:
    hub = bench.hub("contoso-weu", devices=1_000)
    request = bench.request(hub)
    with bench.uow() as uow:  # the POSTing process died before Azure's answer came
        approved = uow.requests.get(request.id)
        assert approved is not None
        running = approved.start(bench.clock.now(), bench.clock.now()).request
        assert uow.requests.save(running, approved.version)
        uow.commit()
    poller = bench.poller()
    bench.run([poller], until=lambda: len(bench.gateway.calls) > 0 and bench.clock.now()
              > request.created_at + timedelta(minutes=2), step=timedelta(seconds=5))
    assert bench.slack.milestones(request.id) == []
    assert bench.get(request.id).status is RequestStatus.RUNNING

    # Azure acts on the lost POST after all: now it is accepted, and followed to the end.
    bench.gateway.start_failover(HubRef(hub, *_where(bench, hub)), "North Europe")
    bench.run([poller], until=lambda: bool(bench.slack.of("completed", request.id)))

    assert bench.slack.milestones(request.id) == [Milestone.STARTED]
    assert bench.get(request.id).status is RequestStatus.SUCCEEDED
    assert len(bench.slack.of("completed", request.id)) == 1


def _where(bench: Bench, hub: str) -> tuple[str, str]:
    ref = bench.gateway.resolve(hub)
    return ref.subscription_id, ref.resource_group


def test_a_start_azure_does_not_take_is_retried_with_growing_gaps_and_audited_once(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = bench.hub("contoso-weu", devices=1_000)
    request = bench.request(hub)
    posts: list[datetime] = []
    real_start = bench.gateway.start_failover

    def counted_start(ref: HubRef, target: str) -> str:
        posts.append(bench.clock.now())
        if len(posts) <= 5:  # Azure answers the first five 503, as the gateway reports it
            raise TransientError("The service is temporarily unavailable.",
                                 code="FailoverNotStarted")
        return real_start(ref, target)

    monkeypatch.setattr(bench.gateway, "start_failover", counted_start)
    poller = bench.poller()

    bench.run([poller], until=lambda: bool(bench.slack.of("completed", request.id)))

    assert len(posts) == 6
    gaps = [b - a for a, b in pairwise(posts)]
    assert gaps == sorted(gaps), gaps  # equal jitter: each wait at least the one before
    assert gaps[0] >= POLL_INTERVAL / 2 and gaps[-1] >= POLL_INTERVAL * 8, gaps
    actions = _actions(bench, request.id)
    assert actions.count(AuditAction.STARTED) == 1
    assert actions.count(AuditAction.RETRY) == 5
    assert AuditAction.FAILED not in actions
    assert bench.get(request.id).status is RequestStatus.SUCCEEDED


def test_a_dead_process_lease_is_reclaimed_at_once_a_live_ones_is_not(bench: Bench) -> None:
    dead_owner = process_owner_id().rsplit(":", 2)[0] + f":{_gone_pid()}:0abc12"
    ids = {}
    for hub, owner in (("dead-owned", dead_owner), ("elsewhere", "other-host~1:42:0abc12")):
        ids[hub] = bench.start(bench.hub(hub, devices=500_000))
        with bench.uow() as uow:
            uow.leases.take_lease(ids[hub], owner, bench.clock.now() + LEASE_TTL)
            uow.leases.schedule_poll(ids[hub], bench.clock.now())
            uow.commit()

    bench.poller("restarted").run_once()

    polled = {handle for _, handle in bench.gateway.polls}
    assert bench.get(ids["dead-owned"]).operation_handle in polled
    assert bench.get(ids["elsewhere"]).operation_handle not in polled  # its TTL decides


def test_the_heartbeat_renews_what_it_keeps_and_forgets_a_lease_taken_over(
        bench: Bench) -> None:
    request_id = bench.start(bench.hub("contoso-weu"))
    heartbeat = LeaseHeartbeat(bench.uow, bench.clock, timedelta(seconds=15))
    with bench.uow() as uow:
        assert uow.leases.claim_due("pod-a", bench.clock.now() + POLL_INTERVAL,
                                    heartbeat.ttl, 10)
        uow.commit()
    heartbeat.keep(request_id, "pod-a")
    bench.clock.advance(timedelta(minutes=3))  # a poll that long: the lease stays ours

    assert heartbeat.beat() == 1
    with bench.uow() as uow:
        assert uow.leases.claim_due("pod-b", bench.clock.now(), heartbeat.ttl, 10) == []
        uow.commit()
    bench.clock.advance(heartbeat.ttl + timedelta(seconds=1))  # the owner stops beating
    with bench.uow() as uow:
        assert [r.id for r in uow.leases.claim_due(
            "pod-b", bench.clock.now() + POLL_INTERVAL, heartbeat.ttl, 10)] == [request_id]
        uow.commit()
    assert heartbeat.beat() == 0
    assert heartbeat.kept() == set()


def test_owner_ids_say_when_an_owner_is_provably_dead() -> None:
    me = process_owner_id()
    here = me.rsplit(":", 2)[0]
    assert not owner_is_dead(me)
    assert not owner_is_dead(me + "/start")
    assert owner_is_dead(f"{here}:{_gone_pid()}:0abc12")
    assert owner_is_dead(f"{here}:{me.rsplit(':', 2)[1]}:ffffff")  # our pid, an older start
    assert not owner_is_dead(f"another-host~1:{_gone_pid()}:0abc12")
    assert not owner_is_dead("replica-a")
