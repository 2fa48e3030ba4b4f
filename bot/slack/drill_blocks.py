"""Drills in Block Kit (issue #23): the drill's dialog (the failover's, with what the drill
will do), its approval message's note and **Stop drill** button, its thread's replies, and
``/iothub drills``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.drill import Drill, DrillStatus
from bot.domain.drill_schedule import DrillSchedule
from bot.domain.durations import humanize
from bot.domain.request import FailoverRequest, RequestStatus
from bot.slack.modals import ModalContext, confirm_modal
from bot.slack.text import clip, escape, region, when

if TYPE_CHECKING:  # the front draws approval messages without the service
    from bot.service.drill_asking import DrillPreview

STOP_DRILL = "stop_drill"  # the button's action_id; its value is the drill's id
LIMIT = 3000


def drill_modal(context: ModalContext, preview: DrillPreview, time_scale: float = 1.0) -> View:
    view = confirm_modal(context, preview.failover, time_scale)
    view.title = PlainTextObject(text="Drill IoT Hub")
    view.submit = PlainTextObject(text="Request drill")
    hub = preview.failover.hub
    plan = (f":test_tube: *What the drill will do*\n"
            f"1. fail `{hub.name}` over to {region(hub.target_region)}, then verify it;\n"
            f"2. wait for Azure's cool-down ({humanize(preview.cooldown)});\n"
            f"3. fail it back to {region(hub.home_region)} by itself (this approval covers "
            f"both legs), then verify it;\n"
            f"4. report the measured times against the hub's previous drills.\n"
            f"It uses 1 failover and 1 failback of today's quota: "
            f"{preview.failovers_left_after} failover and {preview.failbacks_left_after} "
            f"failback will be left.")
    blocks = list(view.blocks or [])
    blocks.insert(1, SectionBlock(block_id="drill_plan", text=MarkdownTextObject(
        text=clip(plan, LIMIT))))
    view.blocks = blocks
    return view


def approval_note(request: FailoverRequest) -> list[Block]:
    """On a drill's failover leg's approval message: what approving approves, and its stop."""
    if request.drill_id is None:
        return []
    if request.kind.value != "failover":
        return [ContextBlock(elements=[MarkdownTextObject(text=clip(
            f":test_tube: Drill `{request.drill_id}`: its failback leg, approved with the "
            "drill; its report follows in the drill's thread.", LIMIT))])]
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=clip(
        f":test_tube: Drill `{request.drill_id}`: fail over, verify, wait for Azure's "
        "cool-down, fail back by itself, verify, report. Approving approves both legs.",
        LIMIT))])]
    if request.status in (RequestStatus.AWAITING_APPROVAL, RequestStatus.APPROVED,
                          RequestStatus.RUNNING, RequestStatus.SUCCEEDED):
        blocks.append(stop_button(request.drill_id))
    return blocks


def stop_button(drill_id: str) -> ActionsBlock:
    return ActionsBlock(block_id="drill", elements=[ButtonElement(
        text="Stop drill", action_id=STOP_DRILL, value=drill_id, style="danger",
        confirm=ConfirmObject(title="Stop this drill?",
                              text="A leg not started is cancelled; a hub that moved comes "
                                   "home as soon as Azure allows.",
                              confirm="Stop drill", deny="Go on"))])


def said_blocks(drill: Drill, text: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(text, LIMIT)))]
    if not drill.status.ended and not drill.stopped_by:
        blocks.append(stop_button(drill.id))
    return blocks


def drills_blocks(schedules: Sequence[DrillSchedule], last: dict[str, Drill],
                  never: Sequence[str]) -> list[Block]:
    """``/iothub drills``: the schedules, each hub's last drill, the marked hubs never drilled."""
    lines = ["*Scheduled drills*"]
    lines += [f"• `{escape(s.hub)}` next {when(s.next_at)}"
              + (f", every {humanize(s.every)}" if s.every else ", once")
              + f" (by <@{s.created_by}>)" for s in schedules if s.next_at] or ["• none"]
    lines.append("*Last drill of each hub*")
    lines += [f"• `{escape(hub)}` {when(d.created_at)}: {_result(d)}"
              for hub, d in sorted(last.items())] or ["• none yet"]
    lines.append("*Marked for drills, never drilled*")
    lines.append("• " + (", ".join(f"`{escape(h)}`" for h in never) if never else "none"))
    return [SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), LIMIT)))]


def _result(drill: Drill) -> str:
    legs = (drill.report or {}).get("legs", {})
    verdicts = [legs.get(k, {}).get("verdict") for k in ("failover", "failback")]
    said = {DrillStatus.DONE: "done", DrillStatus.FAILED: "failed",
            DrillStatus.STOPPED: "stopped", DrillStatus.NOT_RUN: "not run"}.get(
        drill.status, drill.status.value.replace("_", " "))
    shown = [v.replace("_", " ") for v in verdicts if v]
    return said + (f" ({', '.join(shown)})" if shown else "")
