"""Drill: acked Slack work survives a ``kill -9`` of the process doing it (issue #13 item 4).

The real ``serve``: its front acks and stores each lazy job, its work process claims and runs
them. Here the work process is killed with work in flight (Azure holds some answers so that
it is), or the whole bot is killed with jobs stored but not run; the bot that carries on must
answer every acked command, record a submitted request exactly once, and approve exactly once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.slack.lazy import TRIGGER_LIFE_S

from .conftest import HUB
from .serve_harness import BOB, CHANNEL, WAIT, Drill, approve_button, request_id_of

pytestmark = pytest.mark.process_drill

OTHER_HUB = "contoso-prod-sea"  # a second hub: one open request per hub
BURST, DURING_RESTART = 40, 10


def _status_burst(drill: Drill, count: int) -> list[str]:
    """``count`` status commands at once; each must be acked. Returns their response tokens."""
    with ThreadPoolExecutor(8) as pool:
        acks = list(pool.map(lambda _: drill.command(f"/iothub status {HUB}"), range(count)))
    assert all(status == 200 for status, _ in acks), acks
    return [token for _, token in acks]


def _unanswered(drill: Drill, tokens: list[str]) -> list[str]:
    return [token for token in tokens if not drill.answers(token)]


def _assert_status_answers(drill: Drill, tokens: list[str]) -> None:
    for token in tokens:
        answers = drill.answers(token)
        # A job done just before the kill and not yet marked done runs again: at worst twice.
        assert 1 <= len(answers) <= 2, answers
        assert all(f"{HUB}: active in" in str(a.get("text")) for a in answers), answers


def test_work_in_flight_when_the_work_process_is_killed_is_done_once(drill: Drill) -> None:
    drill.arm.add_hub(OTHER_HUB, "southeastasia", "eastasia", devices=500)
    drill.start_bot()
    approval = drill.request_failover()  # Alice's request on HUB, awaiting Bob
    request_id = request_id_of(approval)
    dialog = drill.open_dialog(OTHER_HUB)  # and her dialog for the other hub, filled in

    # Azure is slow: hub reads are held, so the work process has work in hand when it dies.
    holds = [drill.arm.hold_next("get") for _ in range(6)]
    before = _status_burst(drill, BURST)
    drill.submit_dialog(dialog, OTHER_HUB)  # acked: the dialog says "Recording the request…"
    assert drill.console().click(BOB.id, approval.ts, approve_button(approval) or {})["ok"]
    holds[0].wait_arrived(WAIT)
    killed = drill.kill_work_process()
    for hold in holds:
        hold.release()  # the answers go to a dead process
    unanswered_at_kill = len(_unanswered(drill, before))

    during = _status_burst(drill, DURING_RESTART)  # acked by the front while it restarts
    drill.wait_for("a new work process", lambda: drill.work_process_pid() != killed)
    drill.wait_for("every acked command to be answered",
                   lambda: not _unanswered(drill, before + during))

    assert unanswered_at_kill > 0  # the kill did land on acked, unanswered work
    _assert_status_answers(drill, before + during)

    # The submission: one request, one audit row, one approval message, the dialog told.
    submitted = drill.wait_for("the other hub's request", lambda: drill.requests_for(OTHER_HUB))
    assert len(submitted) == 1, submitted
    other_id = submitted[0].id
    assert drill.audit(other_id).count(AuditAction.REQUESTED) == 1, drill.audit(other_id)
    drill.wait_for("the dialog to show the request", lambda: other_id in str(
        drill.view(dialog["id"])))
    assert "waiting for approval" in str(drill.view(dialog["id"]))
    drill.wait_for("the approval message for the other hub", lambda: [
        m for m in drill.workspace.messages(CHANNEL.id, top_level=True)
        if approve_button(m) and other_id in m.text])
    approvals = [m for m in drill.workspace.messages(CHANNEL.id, top_level=True)
                 if other_id in m.text]
    assert len(approvals) == 1, approvals

    # The click: approved once, started once (one POST to Azure).
    drill.wait_for("the approved request to start", lambda: drill.row(request_id).status
                   == RequestStatus.RUNNING and drill.arm.failover_posts(HUB) == 1)
    events = drill.audit(request_id)
    assert events.count(AuditAction.APPROVED) == 1, events
    assert events.count(AuditAction.STARTED) == 1, events
    assert drill.row(request_id).approved_by == BOB.id

    drill.wait_for("every job to be marked done", lambda: not drill.pending_jobs())
    drill.kill_bot()  # nothing more can be sent: count what was
    assert drill.arm.failover_posts(HUB) == 1
    assert len(drill.requests_for(OTHER_HUB)) == 1
    _assert_status_answers(drill, before + during)


def test_jobs_a_killed_bot_stored_but_never_ran_are_run_by_the_next(drill: Drill) -> None:
    drill.start_bot()
    drill.kill_work_process()  # the front acks and stores; nobody runs the jobs yet
    status_ack, status = drill.command(f"/iothub status {HUB}")
    dialog_ack, dialog = drill.command(f"/iothub failover {HUB}")
    assert status_ack == dialog_ack == 200
    # The lazy half with work for each command (the status's answer, the dialog), stored.
    drill.wait_for("the jobs to be stored", lambda: len(drill.pending_jobs()) == 2)
    assert drill.health()[1]["work_process"] != "running"
    drill.kill_bot()  # the whole bot, before a new work process could take them
    assert len(drill.pending_jobs()) == 2
    assert not drill.answers(status) and not drill.answers(dialog)

    # A restart in production takes longer than a trigger id lives (3 s); here it can be
    # quicker, so the drill lets that time pass first.
    acked = time.time()
    drill.wait_for("the trigger id to expire", lambda: time.time() > acked + TRIGGER_LIFE_S)
    drill.start_bot()
    answered = drill.wait_for("the status answer", lambda: drill.answers(status))
    assert f"{HUB}: active in" in str(answered[0].get("text")), answered
    # The dialog's trigger id lived 3 s: too late to open it, and the user is told so.
    told = drill.wait_for("the dialog's user to be told", lambda: drill.answers(dialog))
    assert "run the command again" in str(told[0].get("text")), told
    assert not drill._confirmation_modal(HUB)
    drill.wait_for("every job to be marked done", lambda: not drill.pending_jobs())
    assert len(drill.answers(status)) == 1
