"""Drill: ``kill -9`` the real bot in the middle of a regional batch — some hubs running in
Azure, one POST in flight, the rest waiting for their turn — restart it, and check that the
batch is finished with exactly one POST per hub and one board (issue #15)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.store.tables import AuditEventRow
from failover_sandbox.slack_api import Message

from . import batch_views
from .conftest import HUB
from .serve_harness import CHANNEL, WAIT, Drill

pytestmark = pytest.mark.process_drill

OTHERS = [f"weu-drill-{i}" for i in range(5)]
HUBS = [HUB, *OTHERS]  # six hubs active in West Europe










def _started_events(drill: Drill, batch_id: str) -> list[str]:
    with Session(drill.engine) as session:
        rows = session.exec(select(AuditEventRow).where(
            AuditEventRow.batch_id == batch_id,
            AuditEventRow.action == AuditAction.STARTED.value).order_by(col(AuditEventRow.id)))
        return [r.hub or "" for r in rows]


def test_killed_mid_batch_the_restarted_bot_finishes_it_with_one_post_per_hub(
        drill: Drill) -> None:
    for name in OTHERS:
        drill.arm.add_hub(name, "westeurope", "northeurope", devices=1_000)
    # A POST a second: the kill lands with hubs running, one POST held and hubs waiting.
    settings = {"BOT_BATCH_MAX_STARTS_PER_MINUTE": "60"}
    drill.start_bot(settings)
    batch_id = batch_views.approve_the_region(drill, "INC-15 West Europe is down")
    drill.wait_for("two hubs started", lambda: sum(drill.arm.failover_posts(h)
                                                   for h in HUBS) >= 2)
    held = drill.arm.hold_next("failover")
    held.wait_arrived(WAIT)  # Azure took the third POST; its 202 waits
    waiting = [r for r in batch_views.members(drill, batch_id)
               if r.status == RequestStatus.APPROVED]
    assert waiting, "some hubs must still wait for their turn when the bot is killed"
    drill.kill_bot()
    held.release()  # the answer goes to a dead socket

    drill.start_bot(settings)

    def everything_done() -> bool:
        drill.arm.finish_running_operations()  # Azure ends each failover once it runs
        members = batch_views.members(drill, batch_id)
        return (len(members) == len(HUBS)
                and all(r.status == RequestStatus.SUCCEEDED for r in members)
                and "6 of 6 done" in json.dumps(board_now().blocks))

    def board_now() -> Message:
        now = batch_views.board(drill)
        assert now is not None
        return now

    drill.wait_for("every hub of the batch to succeed, on its board", everything_done,
                   timeout=3 * WAIT)
    drill.kill_bot()

    assert {h: drill.arm.failover_posts(h) for h in HUBS} == dict.fromkeys(HUBS, 1)
    assert all(drill.arm.active_region(h) == "North Europe" for h in HUBS)
    assert sorted(_started_events(drill, batch_id)) == sorted(HUBS)  # one `started` each
    boards = [m for m in drill.workspace.messages(CHANNEL.id, top_level=True)
              if batch_id in json.dumps(m.blocks)]
    assert len(boards) == 1, [m.text for m in boards]  # the one board, edited in place
    assert batch_views.button(boards[0], "approve") is None
