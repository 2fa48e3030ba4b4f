"""Drills: Azure slow, unavailable or unable to issue tokens is not a failed failover (#13).

The real ``serve`` processes, the real SDK (and azure-identity) over the fake ARM and Azure AD
served over HTTP (``arm_server.py``). Each drill counts what reached Azure (failover POSTs),
what reached Slack (completion replies, "accepted") and what the audit log says: nothing lost,
nothing twice, nothing false.
"""

from __future__ import annotations

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from failover_sandbox.slack_api import Message

from .conftest import HUB
from .serve_harness import CHANNEL, WAIT, Drill, request_id_of

pytestmark = pytest.mark.process_drill

ACCEPTED = "Azure accepted"


def thread_texts(drill: Drill, approval: Message) -> list[str]:
    return [f"{m.text} {m.blocks}" for m in drill.workspace.thread(CHANNEL.id, approval.ts)]


def finish_and_count(drill: Drill, approval: Message, request_id: str) -> list[AuditAction]:
    """Azure ends the operation; wait for the completion to be posted and recorded, stop the
    bot (nothing more can be sent), check the one completion, return the audit trail."""
    drill.wait_for("Azure to be failing the hub over",
                   lambda: drill.arm.hub_state(HUB) == "FailingOver")
    drill.wait_for("the bot to say Azure accepted it",
                   lambda: any(ACCEPTED in t for t in thread_texts(drill, approval)))
    drill.arm.finish_operation(HUB)
    drill.wait_completion_recorded(request_id, approval)
    drill.kill_bot()
    assert drill.arm.active_region(HUB) == "North Europe"
    completions = drill.completion_posts(approval)
    assert len(completions) == 1, completions
    assert request_id in completions[0].text and "succeeded" in completions[0].text
    events = drill.audit(request_id)
    assert events.count(AuditAction.STARTED) == 1, events
    assert events.count(AuditAction.SUCCEEDED) == 1, events
    assert AuditAction.FAILED not in events, events
    accepted = [t for t in thread_texts(drill, approval) if ACCEPTED in t]
    assert len(accepted) == 1, accepted
    return events


def test_a_failover_post_azure_takes_8s_to_accept_is_followed_not_failed(drill: Drill) -> None:
    drill.start_bot()  # a poll a second: the old rule gave up after four
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    before_answer: list[list[str]] = []
    slow = drill.arm.accept_next_failover_slowly(
        8.0, before_answer=lambda: before_answer.append(thread_texts(drill, approval)))
    drill.approve(approval)
    slow.wait_arrived(WAIT)

    row = drill.row(request_id)
    assert row.status == RequestStatus.RUNNING and row.operation_handle is None, row
    assert row.lease_owner and row.lease_owner.endswith("/start"), row  # the POSTer's lease
    drill.wait_for("Azure's 202", lambda: slow.answered_at is not None, timeout=WAIT)
    # Eight polls' worth of waiting, and nobody said "accepted" or "failed" before Azure did.
    assert before_answer and not any(ACCEPTED in t for t in before_answer[0]), before_answer
    assert not drill.completion_posts(approval)
    assert drill.row(request_id).status == RequestStatus.RUNNING

    events = finish_and_count(drill, approval, request_id)
    assert drill.arm.failover_attempts(HUB) == drill.arm.failover_posts(HUB) == 1
    assert AuditAction.RETRY not in events, events


def test_failover_posts_answered_503_for_12s_are_retried_with_back_off(drill: Drill) -> None:
    drill.start_bot()
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    drill.arm.unavailable_for(12.0)  # ARM answers every failover POST 503
    drill.approve(approval)

    events = finish_and_count(drill, approval, request_id)
    attempts = drill.arm.failover_attempts(HUB)
    print(f"failover POST attempts: {attempts}")  # the drill's figure, with -s
    assert 2 <= attempts <= 7, attempts  # back-off: 1 s, 2 s, 4 s, 8 s… with jitter
    assert drill.arm.failover_posts(HUB) == 1  # exactly one accepted
    # Every POST has its audit row before it: one `started`, then a `retry` each.
    assert events.count(AuditAction.RETRY) == attempts - 1, events


def test_azure_ad_answering_500_for_5s_delays_the_failover_but_does_not_fail_it(
        drill: Drill) -> None:
    drill.start_bot({"DRILL_AAD": "1"})  # azure-identity's ClientSecretCredential
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    assert drill.arm.token_answers[200] > 0  # the dialog needed tokens, and got them
    drill.arm.token_errors_for(5.0)
    drill.approve(approval)

    drill.wait_for("a token request to fail", lambda: drill.arm.token_answers[500] > 0)
    finish_and_count(drill, approval, request_id)
    assert drill.arm.failover_posts(HUB) == 1
