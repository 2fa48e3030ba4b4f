"""What the batch drills read of a regional batch: the dialog Alice has open, the board, its
buttons and the batch's requests in the database."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select

from bot.store.tables import FailoverRequestRow
from failover_sandbox.slack_api import Message

from .serve_harness import ALICE, BOB, CHANNEL, Drill


def regional_modal(drill: Drill) -> dict[str, Any] | None:
    """The regional dialog Alice has open, once it lists the hubs."""
    for modal in drill.workspace.snapshot()["views"]:
        view = modal["view"]
        if (modal["user"] == ALICE.id and not modal["closed"]
                and view.get("callback_id") == "region_confirm"
                and any(b.get("block_id") == "hubs" for b in view.get("blocks") or [])):
            return dict(view)
    return None


def board(drill: Drill) -> Message | None:
    return next((m for m in drill.workspace.messages(CHANNEL.id, top_level=True)
                 if "fb-" in json.dumps(m.blocks)), None)


def button(message: Message, action_id: str) -> dict[str, Any] | None:
    """The action a click on ``message``'s button ``action_id`` sends, as Slack sends it."""
    for block in message.blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return {"action_id": action_id, "block_id": block.get("block_id") or "",
                        "value": element.get("value"), "text": action_id}
    return None


def members(drill: Drill, batch_id: str) -> list[FailoverRequestRow]:
    with Session(drill.engine) as session:
        return list(session.exec(select(FailoverRequestRow).where(
            FailoverRequestRow.batch_id == batch_id)))


def approve_the_region(drill: Drill, reason: str) -> str:
    """Alice asks for every hub of West Europe (all eligible ones are preselected: she types
    only the region and a reason), Bob approves; returns the batch's id."""
    console = drill.console()
    assert console.slash_command(ALICE.id, "/iothub failover --region West Europe")["ok"]
    modal = drill.wait_for("the regional dialog", lambda: regional_modal(drill))
    assert console.submit(ALICE.id, modal["id"], {
        "confirm_region": {"confirm_region": "West Europe"},
        "reason": {"reason": reason}})["ok"]
    shown = drill.wait_for("the batch's approval message", lambda: board(drill))
    approve = button(shown, "approve")
    assert approve is not None and str(approve["value"]).startswith("fb-")
    assert console.click(BOB.id, shown.ts, approve)["ok"]
    return str(approve["value"])
