"""Azure's rules for manual failover, checked before Azure is asked.

Every check returns ``None`` when the action may go ahead, or a :class:`Refusal` saying why
and, when it can be known, when it will be allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from bot.domain.durations import humanize
from bot.domain.model import HubState, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.user_text import REASON_CHARS, too_long

HUB_NAME = re.compile(r"[A-Za-z0-9-]{3,50}")


class RefusalReason(StrEnum):
    MALFORMED_COMMAND = "malformed_command"
    INVALID_HUB_NAME = "invalid_hub_name"
    HUB_NOT_FOUND = "hub_not_found"
    HUB_AMBIGUOUS = "hub_ambiguous"
    HUB_NOT_READY = "hub_not_ready"
    WRONG_DIRECTION = "wrong_direction"
    HUB_LOCKED = "hub_locked"
    QUOTA_EXHAUSTED = "quota_exhausted"
    COOLDOWN = "cooldown"
    NOT_REQUESTER = "not_requester"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    NOT_APPROVER = "not_approver"
    SELF_APPROVAL = "self_approval"
    NO_APPROVER = "no_approver"
    NAME_MISMATCH = "name_mismatch"
    REASON_REQUIRED = "reason_required"
    HUB_CHANGED = "hub_changed"
    INPUT_TOO_LONG = "input_too_long"
    EXPIRED = "expired"
    ALREADY_DECIDED = "already_decided"
    NOT_FOUND = "request_not_found"
    NOT_OWNER = "not_owner"
    WRONG_MESSAGE = "wrong_message"  # a button's value names what its message is not about
    NOT_MARKED_FOR_DRILLS = "not_drillable"  # a drill of a hub not marked for drills
    DRILL_QUOTA = "drill_quota"  # a drill would use the day's last failover (or no failback)
    DRILL_BUSY = "drill_busy"  # an incident (a request, a regional batch) or another drill
    AZURE_ERROR = "azure_error"
    STORE_UNAVAILABLE = "store_unavailable"


@dataclass(frozen=True)
class Refusal:
    """Why an action was refused, and when it will be allowed (``None``: not by waiting)."""

    reason: RefusalReason
    message: str
    allowed_at: datetime | None = None
    # The open or running request behind a refusal (HUB_LOCKED): answers show it first.
    request: FailoverRequest | None = None


class QuotaWindow(StrEnum):
    ROLLING_24H = "rolling-24h"
    UTC_DAY = "utc-day"


@dataclass(frozen=True)
class Limits:
    failovers_per_day: int = 2
    failbacks_per_day: int = 2
    failback_cooldown: timedelta = timedelta(hours=1)
    window: QuotaWindow = QuotaWindow.ROLLING_24H

    def daily_limit(self, kind: OperationKind) -> int:
        return self.failovers_per_day if kind is OperationKind.FAILOVER else self.failbacks_per_day


def check_hub_name(name: str) -> Refusal | None:
    if HUB_NAME.fullmatch(name):
        return None
    return Refusal(
        RefusalReason.INVALID_HUB_NAME,
        f"`{name[:60]}` is not a valid IoT Hub name: use 3–50 letters, digits or `-`.",
    )


# The smallest step of a datetime. An operation exactly 24 h old still counts (Azure's own
# boundary is not documented: the bot errs on the side of refusing, never of being refused).
_TICK = timedelta(microseconds=1)


def window_start(now: datetime, window: QuotaWindow) -> datetime:
    """The earliest operation start that still counts against today's quota (``>=``)."""
    if window is QuotaWindow.UTC_DAY:
        utc = now.astimezone(UTC)
        return utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - timedelta(hours=24)


def _window_end(start: datetime, window: QuotaWindow) -> datetime:
    return start + timedelta(days=1) if window is QuotaWindow.UTC_DAY else start


def quota_remaining(counted: Sequence[datetime], kind: OperationKind, now: datetime,
                    limits: Limits) -> int:
    """How many more operations of ``kind`` may start now; ``counted`` are start times."""
    since = window_start(now, limits.window)
    used = sum(1 for at in counted if at >= since)
    return max(0, limits.daily_limit(kind) - used)


def check_quota(counted: Sequence[datetime], kind: OperationKind, now: datetime,
                limits: Limits) -> Refusal | None:
    """``counted``: start times of this hub's successful and in-flight operations of ``kind``."""
    since = window_start(now, limits.window)
    in_window = sorted(at for at in counted if at >= since)
    limit = limits.daily_limit(kind)
    if len(in_window) < limit:
        return None
    if limit <= 0:
        # Disabled by configuration, not by Azure: waiting will not help.
        variable = f"BOT_DAILY_{kind.value.upper()}_LIMIT"
        return Refusal(RefusalReason.QUOTA_EXHAUSTED,
                       f"{kind.value.capitalize()}s are disabled for this bot ({variable}=0).")
    if limits.window is QuotaWindow.UTC_DAY:
        allowed_at = _window_end(since, limits.window)
    else:
        # The oldest counted operations must leave the window for one slot to open.
        allowed_at = in_window[len(in_window) - limit] + timedelta(hours=24) + _TICK
    return Refusal(
        RefusalReason.QUOTA_EXHAUSTED,
        f"Azure allows {limit} {kind.value}s per hub per day and this hub has used them.",
        allowed_at,
    )


def check_cooldown(kind: OperationKind, last_failover_completed: datetime | None,
                   now: datetime, limits: Limits) -> Refusal | None:
    """A failback must wait about an hour after the last successful failover."""
    if kind is not OperationKind.FAILBACK or last_failover_completed is None:
        return None
    allowed_at = last_failover_completed + limits.failback_cooldown
    if now >= allowed_at:
        return None
    return Refusal(
        RefusalReason.COOLDOWN,
        f"A failback must wait {humanize(limits.failback_cooldown)} after a failover; "
        f"the last failover finished {humanize(now - last_failover_completed)} ago.",
        allowed_at,
    )


def check_direction(requested: OperationKind, hub: HubState) -> Refusal | None:
    """``/iothub failover`` on a hub that is already away from home means a failback."""
    if requested is hub.next_kind:
        return None
    if requested is OperationKind.FAILOVER:
        message = (f"`{hub.name}` is already running in its secondary region "
                   f"({hub.active_display}). Did you mean `/iothub failback {hub.name}`?")
    else:
        message = (f"`{hub.name}` is already in its home region ({hub.active_display}). "
                   f"Did you mean `/iothub failover {hub.name}`?")
    return Refusal(RefusalReason.WRONG_DIRECTION, message)


def check_ready(hub: HubState) -> Refusal | None:
    if hub.is_ready:
        return None
    return Refusal(
        RefusalReason.HUB_NOT_READY,
        f"`{hub.name}` is `{hub.state}` (provisioning `{hub.provisioning_state}`); Azure only "
        "fails over an Active hub. Try again once it is Active.",
    )


def check_open_request(open_request: FailoverRequest | None) -> Refusal | None:
    if open_request is None:
        return None
    kind = open_request.kind.value
    if open_request.status is RequestStatus.AWAITING_APPROVAL:
        what = f"A {kind} of `{open_request.hub.name}` is waiting for approval"
    else:
        what = f"A {kind} of `{open_request.hub.name}` is running"
    return Refusal(
        RefusalReason.HUB_LOCKED,
        f"{what} (request `{open_request.id}`, requested by <@{open_request.requested_by}>). "
        "One operation per hub at a time.",
        open_request.expires_at if open_request.status is RequestStatus.AWAITING_APPROVAL else None,
        request=open_request,
    )


def check_confirmation(hub_name: str, typed_name: str, reason: str) -> dict[str, Refusal]:
    """The modal's own checks, keyed by field: the typed name and the reason."""
    errors: dict[str, Refusal] = {}
    # IoT Hub names are case-insensitive in Azure: "Contoso-Prod" names the same hub.
    typed = typed_name.strip()
    if typed.lower() != hub_name.lower():
        # Says what is wrong; the input's hint already says what to type.
        shown = f'"{typed[:50]}"' if typed else "Nothing"
        errors["confirm_hub_name"] = Refusal(
            RefusalReason.NAME_MISMATCH, f"{shown} is not {hub_name}."
        )
    reason_error = check_reason(reason)
    if reason_error:
        errors["reason"] = reason_error
    return errors


def check_reason(reason: str) -> Refusal | None:
    """Required, and within the dialog's limit (a crafted submission is held to it too)."""
    if not reason.strip():
        return Refusal(RefusalReason.REASON_REQUIRED, "Give a reason or an incident link.")
    longer = too_long(reason.strip(), REASON_CHARS, "The reason")
    return Refusal(RefusalReason.INPUT_TOO_LONG, longer) if longer else None


# Documented anchors: an empty hub took ~8 min, 100k devices ~15 min, 5M devices ~60 min.
_ANCHORS = [(0, 8 * 60.0), (100_000, 15 * 60.0), (5_000_000, 60 * 60.0)]


def estimate_duration(device_count: int | None,
                      past_durations: Sequence[timedelta] = ()) -> timedelta:
    """Expected duration from the device count, nudged by this hub's own history."""
    devices = max(0, device_count or 0)
    seconds = _ANCHORS[-1][1]
    for (x0, y0), (x1, y1) in pairwise(_ANCHORS):
        if devices <= x1:
            seconds = y0 + (y1 - y0) * (devices - x0) / (x1 - x0)
            break
    else:
        x0, y0 = _ANCHORS[-2]
        x1, y1 = _ANCHORS[-1]
        seconds = y1 + (y1 - y0) * (devices - x1) / (x1 - x0)
    if past_durations:
        history = sorted(d.total_seconds() for d in past_durations)
        median = history[len(history) // 2]
        seconds = (seconds + 2 * median) / 3
    return timedelta(seconds=seconds)
