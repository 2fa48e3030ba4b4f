"""Drill: a disaster-recovery drill (issue #23) survives ``kill -9`` during its cool-down.

The drill's failback leg is not a timer in a process: it is the drill's row (cooling down,
``failback_at``, next step due then), so a bot killed while it waits and started again fails
the hub back by itself at the cool-down's end, once, without a second approval.

The bot is the real ``serve`` (``serve_harness.py``); Azure is the fake ARM in this process
(``arm_server.py``), the hub tagged ``failover-bot-drill`` = ``allowed``. Azure's hour of
cool-down is ``BOT_FAILBACK_COOLDOWN=30s`` here (the bot warns it is shorter than Azure's, as
it should), and verification is off (``BOT_VERIFY_WINDOW=0``): the drill ends at the
failback's completion, and its report has the times without verdicts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from bot.domain.drill import DrillStatus
from bot.domain.durations import minute_up
from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.slack.modals import NAME_INPUT, REASON_INPUT
from bot.store.drill_tables import DrillRow
from bot.store.tables import AuditEventRow
from failover_sandbox.slack_api import Message

from .conftest import HUB
from .serve_harness import ALICE, CHANNEL, WAIT, Drill, request_id_of

pytestmark = pytest.mark.process_drill

POLL = timedelta(seconds=1)  # the harness's BOT_POLL_INTERVAL
COOLDOWN = timedelta(seconds=30)  # long enough to kill and start the bot inside it
DRILL_ENV = {"BOT_FAILBACK_COOLDOWN": "30s", "BOT_VERIFY_WINDOW": "0"}
# The failback's POST: after the cool-down's end, within a round or two (a second each) plus
# the start's own reads of the hub.
ON_TIME = 2 * POLL + timedelta(seconds=3)


def _drills(drill: Drill) -> list[DrillRow]:
    with Session(drill.engine) as session:
        return list(session.exec(select(DrillRow).where(DrillRow.hub_name == HUB)
                                 .order_by(col(DrillRow.created_at))))


def _drill_events(drill: Drill) -> list[AuditEventRow]:
    with Session(drill.engine) as session:
        return list(session.exec(select(AuditEventRow).where(
            AuditEventRow.action == AuditAction.DRILL.value).order_by(col(AuditEventRow.id))))


def _reports(drill: Drill, approval: Message) -> list[Message]:
    return [m for m in drill.workspace.thread(CHANNEL.id, approval.ts)
            if m.text.startswith("Drill report")]


def _asked_for_a_drill(drill: Drill) -> Message:
    """Alice runs ``/iothub drill``, types the hub's name in the dialog and submits it;
    returns the approval message the bot posts in the channel."""
    console = drill.console()
    assert console.slash_command(ALICE.id, f"/iothub drill {HUB}")["ok"]
    view = drill.wait_for("the drill's dialog", lambda: drill._confirmation_modal(HUB))
    assert "What the drill will do" in str(view["blocks"]), view
    submitted = console.submit(ALICE.id, view["id"], {
        NAME_INPUT: {NAME_INPUT: HUB}, REASON_INPUT: {REASON_INPUT: "quarterly DR rehearsal"}})
    assert submitted["ok"], submitted
    return drill.wait_for("the approval message", drill._approval_message)


def test_a_drill_killed_during_its_cool_down_fails_back_once_on_time(drill: Drill) -> None:
    drill.arm.tag_hub(HUB, {"failover-bot-drill": "allowed"})
    drill.start_bot(DRILL_ENV)
    approval = _asked_for_a_drill(drill)
    failover_id = request_id_of(approval)
    drill.approve(approval)
    drill.wait_for("Azure to take the failover", lambda: drill.arm.failover_posts(HUB) == 1)
    drill.arm.finish_operation(HUB)
    drill.wait_completion_recorded(failover_id, approval)
    cooling = drill.wait_for("the drill to cool down", lambda: next(
        (d for d in _drills(drill) if d.status == DrillStatus.COOLING_DOWN), None))
    assert cooling.failback_at is not None
    said = drill.wait_for("the thread to say when the failback starts", lambda: [
        m.text for m in drill.workspace.thread(CHANNEL.id, approval.ts)
        if "The failback leg starts by itself at" in m.text])
    # The minute Azure allows, rounded up (never a minute at which it would still refuse).
    assert f"at {minute_up(cooling.failback_at):%H:%M} UTC" in said[0], said

    # Told while the step's lease is held (a minute, the keeper's): the kill lands in the
    # cool-down's quiet, once no step is in flight, as it would in all but an instant of
    # Azure's hour. (A lease left by a kill mid-step would hold the drill for its minute.)
    drill.wait_for("the step's lease handed back",
                   lambda: _drills(drill)[0].lease_owner is None)
    drill.kill_bot()  # in the cool-down: no process waits for its end
    assert drill.arm.failover_posts(HUB) == 1
    drill.start_bot(DRILL_ENV)
    assert datetime.now(UTC) < cooling.failback_at, "started again after the cool-down"
    assert drill.arm.failover_posts(HUB) == 1
    drill.wait_for("Azure to take the failback", lambda: drill.arm.failover_posts(HUB) == 2,
                   timeout=COOLDOWN.total_seconds() + WAIT)
    failback_posted = drill.arm.failover_times(HUB)[1]
    drill.arm.finish_operation(HUB)
    drill.wait_for("the drill to end", lambda: _drills(drill)[0].status == DrillStatus.DONE)
    drill.wait_for("the report in the thread", lambda: _reports(drill, approval))
    drill.kill_bot()  # nothing more can be sent: count what was

    assert drill.arm.failover_posts(HUB) == 2 == drill.arm.failover_attempts(HUB)
    assert drill.arm.active_region(HUB) == "West Europe"  # home again
    # At the cool-down's end, not before (Azure would refuse it), and not much after.
    assert cooling.failback_at <= failback_posted <= cooling.failback_at + ON_TIME, (
        cooling.failback_at, failback_posted)
    (done,) = _drills(drill)
    assert done.status == DrillStatus.DONE and done.failback_at == cooling.failback_at
    assert done.approved_by == "U0BOB" and done.failback_request_id, done
    back = drill.row(done.failback_request_id)
    assert back.status == RequestStatus.SUCCEEDED and back.approved_by == "U0BOB", back
    assert len(drill.requests_for(HUB)) == 2  # one request a leg
    started = [m for m in drill.workspace.thread(CHANNEL.id, approval.ts)
               if f"the failback leg `{back.id}` starts now" in m.text]
    assert len(started) == 1, started
    reports = _reports(drill, approval)
    assert len(reports) == 1, reports
    assert "Quota used: 1 failover, 1 failback" in reports[0].text, reports
    notes = [json.loads(e.detail or "{}").get("note") for e in _drill_events(drill)]
    assert notes == ["failback scheduled", "drill done"], notes  # the report: kept once
