"""Drill: ``kill -9`` the real bot in the middle of a failover, restart it, and check that
nothing is lost and nothing runs twice (issue #8). The harness is ``serve_harness.py``.
"""

from __future__ import annotations

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from failover_sandbox.slack_api import Message

from .conftest import HUB
from .serve_harness import WAIT, Drill, request_id_of

pytestmark = pytest.mark.process_drill

def _finish_and_check(drill: Drill, approval: Message, request_id: str) -> None:
    """Azure ends the operation; the bot running now reports it once, and Azure saw one POST."""
    drill.arm.finish_operation(HUB)
    drill.wait_completion_recorded(request_id, approval)
    drill.kill_bot()  # nothing more can be sent: count what was

    assert drill.arm.failover_posts(HUB) == 1
    assert drill.arm.active_region(HUB) == "North Europe"
    completions = drill.completion_posts(approval)
    assert len(completions) == 1, completions
    assert request_id in completions[0].text and "succeeded" in completions[0].text, completions
    events = drill.audit(request_id)
    assert events.count(AuditAction.STARTED) == 1, events
    assert events.count(AuditAction.SUCCEEDED) == 1, events
    assert AuditAction.FAILED not in events, events


def test_killed_while_azure_holds_the_failover_post(drill: Drill) -> None:
    drill.start_bot()
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    post = drill.arm.hold_next("failover")
    drill.approve(approval)
    post.wait_arrived(WAIT)  # Azure took the POST and the hub is failing over; no 202 yet

    row = drill.row(request_id)
    assert row.status == RequestStatus.RUNNING, row
    assert row.operation_handle is None, row  # Azure's answer never arrived
    drill.kill_bot()
    post.release()  # the 202 goes to a dead socket
    assert drill.arm.hub_state(HUB) == "FailingOver"

    reads = drill.arm.served("get")
    drill.start_bot()
    # Two reads: the first round found the hub failing over, decided nothing, and looked again.
    drill.wait_for("the new process to follow the hub for a round",
                   lambda: drill.arm.served("get") >= reads + 2)
    row = drill.row(request_id)
    assert row.status == RequestStatus.RUNNING, row
    assert drill.arm.failover_posts(HUB) == 1

    _finish_and_check(drill, approval, request_id)


def test_killed_while_polling_with_the_lease_held(drill: Drill) -> None:
    drill.start_bot()
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    poll = drill.arm.hold_next("operation")
    drill.approve(approval)
    poll.wait_arrived(WAIT)  # the poller is asking Azure about the operation

    row = drill.row(request_id)
    assert row.status == RequestStatus.RUNNING, row
    assert row.operation_handle, row
    assert row.lease_owner is not None, row  # claimed by the dying process's poller
    drill.kill_bot()
    poll.release()

    polls = drill.arm.served("operation")
    drill.start_bot()
    # The dead process's lease runs out; the new one polls the stored handle, twice.
    drill.wait_for("the new process to follow the stored operation for a round",
                   lambda: drill.arm.served("operation") >= polls + 2)
    row = drill.row(request_id)
    assert row.status == RequestStatus.RUNNING, row
    assert drill.arm.failover_posts(HUB) == 1

    _finish_and_check(drill, approval, request_id)

