"""A disaster-recovery drill (issue #23): fail a test hub over, verify, wait for Azure's
cool-down, fail it back, verify, and report what was measured.

The drill is the decision (who asked, why, which hub, who approved, who stopped it) and its
schedule of legs; each leg is an ordinary :class:`~bot.domain.request.FailoverRequest`
carrying the drill's id, with every guarantee a request has (compare-and-set changes, one
POST, leases, audit, resume after a crash on any replica). Approving the failover leg
approves the drill: the failback leg is created already approved, by the approver, when the
cool-down ends (``failback_at``), once — the drill's own compare-and-set makes it so.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.domain.request import SYSTEM

DRILL_ID_PREFIX = "dr-"
DRILL_TAG = "failover-bot-drill"
DRILL_ALLOWED = "allowed"
WELL_FORMED_DRILL_ID = re.compile(r"dr-[0-9a-f]{1,29}")


def new_drill_id() -> str:
    return DRILL_ID_PREFIX + secrets.token_hex(4)


def marked_for_drills(hub: str, tags: Mapping[str, str] | None,
                      configured: Collection[str]) -> bool:
    """A hub tagged ``failover-bot-drill`` = ``allowed``, or listed in ``BOT_DRILL_HUBS``."""
    if hub.lower() in {name.lower() for name in configured}:
        return True
    for key, value in (tags or {}).items():
        if isinstance(key, str) and key.lower() == DRILL_TAG and isinstance(value, str):
            return value.strip().lower() == DRILL_ALLOWED
    return False


HOW_TO_ALLOW = (f"Only hubs marked for drills may be drilled: tag the hub `{DRILL_TAG}` = "
                f"`{DRILL_ALLOWED}` in Azure, or add it to `BOT_DRILL_HUBS`.")


@dataclass(frozen=True)
class DrillAsk:
    """A submission that asks for a drill, not a plain failover (its failover leg's)."""

    scheduled_by: str | None = None  # a schedule's creator, when a schedule asked
    schedule_id: str | None = None


class DrillStatus(StrEnum):
    ASKED = "asked"  # the failover leg awaits approval
    FAILING_OVER = "failing_over"  # approved: the failover leg runs (then its verdict)
    COOLING_DOWN = "cooling_down"  # moved: the failback leg starts at failback_at
    FAILING_BACK = "failing_back"  # the failback leg runs (then its verdict)
    DONE = "done"  # both legs ran; the report is out
    STOPPED = "stopped"  # stopped before anything moved
    FAILED = "failed"  # a leg failed: the report says which, in Azure's words
    NOT_RUN = "not_run"  # rejected, cancelled or expired before it started

    @property
    def ended(self) -> bool:
        return self in (DrillStatus.DONE, DrillStatus.STOPPED, DrillStatus.FAILED,
                        DrillStatus.NOT_RUN)


@dataclass(frozen=True)
class Drill:
    id: str
    hub: str
    channel_id: str
    requested_by: str
    reason: str
    created_at: datetime
    failover_request_id: str
    status: DrillStatus = DrillStatus.ASKED
    approved_by: str | None = None
    failback_request_id: str | None = None
    failback_at: datetime | None = None  # when the failback leg starts (the cool-down's end)
    stopped_by: str | None = None
    stopped_at: datetime | None = None
    scheduled_by: str | None = None  # a schedule's creator, when a schedule asked for it
    schedule_id: str | None = None
    next_step_at: datetime | None = None  # when the poller looks at it next
    ended_at: datetime | None = None
    report: Mapping[str, Any] | None = None  # the measured figures, once it ended
    # What its thread is to be told of its last step, kept with the step itself (an outbox:
    # a crash before the telling loses nothing), cleared once told.
    untold: str | None = None
    version: int = 1

    def evolve(self, **changes: Any) -> Drill:
        return replace(self, version=self.version + 1, **changes)

    def audit(self, at: datetime, action: AuditAction, actor: str = SYSTEM,
              **detail: Any) -> AuditEvent:
        return AuditEvent(at=at, action=action, actor=actor, hub=self.hub,
                          request_id=self.failover_request_id, kind=OperationKind.FAILOVER,
                          detail={"drill": self.id, **detail})


def drill_line(drill: Drill) -> str:
    """A drill under way in a few words (``/iothub status``)."""
    phase = {DrillStatus.ASKED: "awaiting approval",
             DrillStatus.FAILING_OVER: "its failover leg runs",
             DrillStatus.COOLING_DOWN: "cooling down" + (
                 f", the failback leg starts at {drill.failback_at:%H:%M} UTC"
                 if drill.failback_at else ""),
             DrillStatus.FAILING_BACK: "its failback leg runs"}.get(drill.status,
                                                                    drill.status.value)
    stopped = f"; stopped by <@{drill.stopped_by}>" if drill.stopped_by else ""
    return f"Drill `{drill.id}` under way (asked by <@{drill.requested_by}>): {phase}{stopped}."
