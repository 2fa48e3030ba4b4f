"""Drill: what the bot does after a move survives ``kill -9`` (issue #22).

- A verification in progress is a row with a lease, like a request's: a process killed while
  it looks at Azure Monitor leaves it watching, and the next process (another owner, as
  another replica would be) takes it when the lease lapses and says the verdict once.
- Consumers listed before the approval are restarted once after the move: a process killed
  with one restart answered and the other sent leaves neither to be sent again. The next
  process, on the same host, sees that the one acting is gone and says the unanswered restart
  interrupted at once (another host would say it once the 12-minute acting lease lapsed).

The bot is the real ``serve`` (``serve_harness.py``); Azure, its metrics and the consumers are
the fake ARM in this process (``arm_server.py``). Azure Monitor's minutes are on the real
clock, the bot's: with ``BOT_VERIFY_METRICS_DELAY=0`` and ``BOT_VERIFY_WINDOW=2m`` (the
shortest the settings allow) the earliest verdict is when the second whole minute after the
completion has ended, 2 to 3 minutes after it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from bot.domain.model import AuditAction
from bot.domain.verification_state import VerifyStatus
from bot.poller.after_move import LOOK_LEASE
from bot.store.after_move_tables import ConsumerActionRow, VerificationRow
from bot.store.tables import AuditEventRow
from failover_sandbox.slack_api import Message

from .conftest import HUB
from .serve_harness import CHANNEL, WAIT, Drill, request_id_of

pytestmark = pytest.mark.process_drill

DEVICES, TELEMETRY = 20_000, 60_000  # a minute, before and after the move
FASTEST_VERDICT = {"BOT_VERIFY_WINDOW": "2m", "BOT_VERIFY_METRICS_DELAY": "0"}
# From the completion: the second whole minute after it has ended (at most 3 minutes), and
# the slack of a loaded machine.
VERDICT_DUE = timedelta(minutes=3).total_seconds() + WAIT


def _verification(drill: Drill, request_id: str) -> VerificationRow | None:
    with Session(drill.engine) as session:
        return session.get(VerificationRow, request_id)


def _verdicts(drill: Drill, approval: Message) -> list[Message]:
    return [m for m in drill.workspace.thread(CHANNEL.id, approval.ts)
            if m.text.startswith(tuple(f"{HUB}: {verdict}" for verdict in (
                "Verified", "Not recovered", "Could not verify")))]


def _approved(drill: Drill, extra_env: dict[str, str]) -> tuple[Message, str, str]:
    """Alice asks and Bob approves; Azure has taken the failover. Returns the approval
    message, the request's id, and what the message said when Bob clicked."""
    drill.start_bot(extra_env)
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    seen = str(approval.blocks)
    drill.approve(approval)
    drill.wait_for("Azure to take the failover", lambda: drill.arm.failover_posts(HUB) == 1)
    return approval, request_id, seen


def test_a_verification_killed_while_it_looks_is_decided_once_by_the_next_process(
        drill: Drill) -> None:
    drill.arm.steady_metrics(HUB, devices=DEVICES, telemetry=TELEMETRY)
    approval, request_id, _ = _approved(drill, FASTEST_VERDICT)
    # The hour before the POST, read while Azure moves the hub: two reads, one per metric.
    drill.wait_for("the baseline to be read", lambda: (
        (v := _verification(drill, request_id)) is not None and v.baseline is not None))
    baseline_reads = drill.arm.served("metrics")
    drill.arm.finish_operation(HUB)
    drill.wait_completion_recorded(request_id, approval)
    watching = _verification(drill, request_id)
    assert watching is not None and watching.status == VerifyStatus.WATCHING, watching

    look = drill.arm.hold_next("metrics")  # the look that would decide: Azure answers late
    look.wait_arrived(VERDICT_DUE)
    looking = _verification(drill, request_id)
    assert looking is not None and looking.lease_owner is not None, looking
    assert looking.status == VerifyStatus.WATCHING and not _verdicts(drill, approval)
    drill.kill_work_process()  # the front starts another: another owner, as a replica is
    look.release()  # Azure's answer goes to a dead socket

    # The dead process's lease lapses; the next one looks again and decides.
    drill.wait_for("the verdict to be told", lambda: (
        (v := _verification(drill, request_id)) is not None and v.announced),
        timeout=LOOK_LEASE.total_seconds() + WAIT)
    decided = _verification(drill, request_id)
    assert decided is not None and decided.status == VerifyStatus.VERIFIED, decided
    # Decided by a look after the dead process's lease lapsed: by the next process.
    assert looking.lease_expires_at is not None and decided.decided_at is not None
    assert decided.decided_at >= looking.lease_expires_at, (decided, looking)
    assert drill.arm.served("metrics") > baseline_reads + 2  # the killed look's read, again
    drill.kill_bot()  # nothing more can be sent: count what was

    verdicts = _verdicts(drill, approval)
    assert len(verdicts) == 1, verdicts
    assert verdicts[0].text.startswith(
        f"{HUB}: Verified: {DEVICES:,} of {DEVICES:,} devices connected again (100 %)"), verdicts
    events = drill.audit(request_id)
    assert events.count(AuditAction.VERIFIED) == 1, events
    assert AuditAction.UNVERIFIED not in events and AuditAction.NOT_RECOVERED not in events


CONSUMERS = {"failover-bot-consumers": "Microsoft.Web/sites/func-a,Microsoft.Web/sites/func-b",
             "failover-bot-restart-consumers": "true"}
NO_VERIFICATION = {"BOT_VERIFY_WINDOW": "0"}  # the consumers alone


def _said_of(drill: Drill, approval: Message, site: str) -> list[str]:
    """What the thread says of the Function app ``site``."""
    label = f"{site} (Function app)"
    return [m.text for m in drill.workspace.thread(CHANNEL.id, approval.ts)
            if label in m.text and m.ts != approval.ts]


def _actions(drill: Drill, request_id: str) -> list[ConsumerActionRow]:
    with Session(drill.engine) as session:
        return list(session.exec(select(ConsumerActionRow).where(
            ConsumerActionRow.request_id == request_id)))


def _consumer_events(drill: Drill, request_id: str) -> dict[str, list[str]]:
    """The audit log's ``consumer`` events: each consumer's outcomes, in order."""
    with Session(drill.engine) as session:
        rows = session.exec(select(AuditEventRow).where(
            AuditEventRow.request_id == request_id,
            AuditEventRow.action == AuditAction.CONSUMER.value).order_by(col(AuditEventRow.id)))
        outcomes: dict[str, list[str]] = {}
        for row in rows:
            detail = json.loads(row.detail or "{}")
            outcomes.setdefault(detail["consumer"].rsplit("/", 1)[-1], []).append(
                detail["outcome"])
    return outcomes


def test_consumers_are_restarted_once_though_the_bot_is_killed_between_their_restarts(
        drill: Drill) -> None:
    drill.arm.tag_hub(HUB, CONSUMERS)
    for site in ("func-a", "func-b"):
        drill.arm.add_function_app(site)
    # Azure takes func-b's restart and answers late; func-a's is answered at once.
    restart_b = drill.arm.hold_next("restart", resource="func-b")
    approval, request_id, plan = _approved(drill, NO_VERIFICATION)
    # Listed before Bob approved: approving the request approved these restarts.
    assert "then restart func-a (Function app) and func-b (Function app)" in plan, plan
    assert "Approving this request approves these restarts" in plan, plan

    drill.arm.finish_operation(HUB)
    restart_b.wait_arrived(WAIT)
    # Told, and recorded as told (a kill in between would tell it again: Slack has no
    # idempotent post).
    drill.wait_for("func-a's restart to be told and recorded", lambda: [
        a for a in _actions(drill, request_id) if a.name == "func-a" and a.announced])
    said_a = _said_of(drill, approval, "func-a")
    assert drill.arm.restarts("func-a") == drill.arm.restarts("func-b") == 1
    assert not _said_of(drill, approval, "func-b")
    assert {a.name: a.status for a in _actions(drill, request_id)} == {
        "func-a": "done", "func-b": "acting"}
    drill.kill_bot()  # between the two: func-a done and told, func-b sent, its answer unseen
    restart_b.release()

    drill.start_bot(NO_VERIFICATION)  # another process: it knows the first is gone
    said_b = drill.wait_for("func-b's restart to be said interrupted",
                            lambda: _said_of(drill, approval, "func-b"))
    drill.wait_for("both consumers' events", lambda: sum(
        map(len, _consumer_events(drill, request_id).values())) == 2)
    drill.kill_bot()  # nothing more can be sent: count what was

    assert drill.arm.restarts("func-a") == 1 and drill.arm.restarts("func-b") == 1
    assert drill.arm.served("restart") == 2  # nothing sent again, not even refused
    assert _said_of(drill, approval, "func-a") == said_a and len(said_a) == 1, said_a
    assert said_a[0].startswith(":arrows_counterclockwise: Restarted func-a (Function app)")
    assert _said_of(drill, approval, "func-b") == said_b and len(said_b) == 1, said_b
    assert said_b[0].startswith(":warning: The bot stopped while acting on func-b (Function "
                                "app), so whether Azure restarted it is unknown; it was not "
                                "sent again"), said_b
    assert _consumer_events(drill, request_id) == {"func-a": ["restarted"],
                                                   "func-b": ["unknown"]}
