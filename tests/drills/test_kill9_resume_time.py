"""Drill: after ``kill -9`` of the whole bot mid-failover, the restarted bot posts the
completion within one lease TTL (the production default, 15 s) and one poll interval (#13.5).

The dead process's lease was renewed by its heartbeat until the kill, so it runs out at most
one TTL after it; the restarted bot claims the request on its next round and sees the end.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.store.tables import FailoverRequestRow
from failover_sandbox.slack_api import Message

from .conftest import HUB
from .serve_harness import WAIT, Drill, request_id_of

pytestmark = pytest.mark.process_drill

LEASE_TTL = 15.0  # seconds: BOT_LEASE_TTL's default
POLL_INTERVAL = 1.0  # the harness's BOT_POLL_INTERVAL


ENV = {"BOT_LEASE_TTL": f"{LEASE_TTL:.0f}s"}


def _killed_mid_poll(drill: Drill) -> tuple[Message, str]:
    """A running failover whose poller holds the lease, then ``kill -9``; Azure finishes
    while no bot runs."""
    drill.start_bot(ENV)
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    poll = drill.arm.hold_next("operation")
    drill.approve(approval)
    poll.wait_arrived(WAIT)  # the poller holds the lease and is asking Azure

    row = drill.row(request_id)
    assert row.status == RequestStatus.RUNNING and row.operation_handle, row
    assert row.lease_owner and row.lease_expires_at is not None, row
    drill.kill_bot()
    poll.release()
    drill.arm.finish_operation(HUB)
    return approval, request_id


def _restart_and_time_the_completion(drill: Drill, approval: Message, request_id: str
                                     ) -> float:
    restarted = time.monotonic()
    drill.start_bot(ENV)
    drill.wait_completion_recorded(request_id, approval, timeout=LEASE_TTL + WAIT)
    took = time.monotonic() - restarted
    print(f"completion {took:.1f}s after the restart")  # the drill's figure, with -s
    drill.kill_bot()

    assert drill.arm.failover_posts(HUB) == 1
    completions = drill.completion_posts(approval)
    assert len(completions) == 1 and "succeeded" in completions[0].text, completions
    events = drill.audit(request_id)
    assert events.count(AuditAction.STARTED) == 1, events
    assert events.count(AuditAction.SUCCEEDED) == 1, events
    assert AuditAction.FAILED not in events, events
    return took


def test_a_dead_process_here_is_taken_over_at_once(drill: Drill) -> None:
    approval, request_id = _killed_mid_poll(drill)
    took = _restart_and_time_the_completion(drill, approval, request_id)
    assert took <= LEASE_TTL + POLL_INTERVAL, took


def test_an_owner_that_cannot_be_proven_dead_is_waited_for_one_lease_only(
        drill: Drill) -> None:
    approval, request_id = _killed_mid_poll(drill)
    # As if the dead owner had run on another host: its lease must simply run out.
    with Session(drill.engine) as session:
        row = session.get(FailoverRequestRow, request_id)
        assert row is not None
        row.lease_owner = "another-host~4026531836:7:0abc12"
        row.lease_expires_at = datetime.now(UTC) + timedelta(seconds=LEASE_TTL)
        session.add(row)
        session.commit()
    took = _restart_and_time_the_completion(drill, approval, request_id)
    assert took <= LEASE_TTL + POLL_INTERVAL, took

