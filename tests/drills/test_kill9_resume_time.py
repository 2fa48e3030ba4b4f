"""Drill: after ``kill -9`` of the whole bot mid-failover, the restarted bot posts the
completion within one lease TTL (the production default, 15 s) and one poll interval (#13.5).

The dead process's lease was renewed by its heartbeat until the kill, so it runs out at most
one TTL after it; the restarted bot claims the request on its next round and sees the end.
"""

from __future__ import annotations

import time

import pytest

from bot.domain.model import AuditAction, RequestStatus

from .conftest import HUB
from .serve_harness import WAIT, Drill, request_id_of

pytestmark = pytest.mark.process_drill

LEASE_TTL = 15.0  # seconds: BOT_LEASE_TTL's default
POLL_INTERVAL = 1.0  # the harness's BOT_POLL_INTERVAL


def test_the_restarted_bot_reports_within_a_lease_ttl_and_a_poll(drill: Drill) -> None:
    env = {"BOT_LEASE_TTL": f"{LEASE_TTL:.0f}s"}
    drill.start_bot(env)
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
    drill.arm.finish_operation(HUB)  # Azure finishes while no bot runs

    restarted = time.monotonic()
    drill.start_bot(env)

    def announced() -> bool:
        row = drill.row(request_id)
        return (row.status == RequestStatus.SUCCEEDED and row.notified_version >= row.version
                and bool(drill.completion_posts(approval)))

    drill.wait_for("the completion to be posted", announced, timeout=LEASE_TTL + WAIT)
    took = time.monotonic() - restarted
    print(f"completion {took:.1f}s after the restart")  # the drill's figure, with -s
    assert took <= LEASE_TTL + POLL_INTERVAL, took
    drill.kill_bot()

    assert drill.arm.failover_posts(HUB) == 1
    completions = drill.completion_posts(approval)
    assert len(completions) == 1 and "succeeded" in completions[0].text, completions
    events = drill.audit(request_id)
    assert events.count(AuditAction.STARTED) == 1, events
    assert events.count(AuditAction.SUCCEEDED) == 1, events
    assert AuditAction.FAILED not in events, events
