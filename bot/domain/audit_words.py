"""An audit event's detail in words for people (the CLI's table and CSV, ``/iothub audit``).

Internal reason codes (``hub_locked``) stay in the stored detail and in JSON output; people
read the refusal's own message. Messages may carry Slack mentions (``<@U0ALICE>``): each
output decides how to show them (:func:`plain_mentions` for a terminal or a spreadsheet).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from bot.domain.durations import minute_up
from bot.domain.model import AuditAction, AuditEvent

# A Slack user, user-group or channel mention, with or without a label.
MENTION = re.compile(r"<(@|#|!subteam\^)([UWCGS][A-Z0-9]{2,})(?:\|([^>]*))?>")


def plain_mentions(text: str) -> str:
    """``<@U0ALICE>`` → ``@U0ALICE``, ``<#C0INC|incident>`` → ``#incident``."""

    def plain(match: re.Match[str]) -> str:
        sigil = "#" if match.group(1) == "#" else "@"
        return f"{sigil}{match.group(3) or match.group(2)}"

    return MENTION.sub(plain, text)


def _allowed_from(stored: object) -> str:
    """The stored ISO time as people read it, in UTC, rounded up to the minute."""
    try:
        at = datetime.fromisoformat(str(stored))
    except ValueError:
        return str(stored)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return minute_up(at.astimezone(UTC)).strftime("%Y-%m-%d %H:%M UTC")


def _took(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"took {minutes}m {secs:02d}s" if minutes else f"took {secs}s"


_WORDS: dict[str, Callable[[object], str]] = {
    "reason": lambda v: f"reason: {v}",
    "note": lambda v: f"note: {v}",
    "region_before": lambda v: f"from {v}",
    "region_target": lambda v: f"to {v}",
    "region_after": lambda v: f"now active in {v}",
    "duration_s": _took,
    "milestone": lambda v: f"milestone: {v}",
    "following_hub": lambda v: "following the hub's own state" if v else "",
    "attempt": lambda v: f"attempt {v}",
    "start_postponed": lambda v: "Azure could not take the start yet; retrying later",
    "failures": lambda v: f"{v} failed attempts so far",
    "error_code": lambda v: f"code {v}",
    "error": lambda v: f"error: {v}",
    "event_hub_endpoint": lambda v: f"new Event Hub endpoint {v}",
    # A regional batch's own events (requested, approved, stopped: no hub of their own).
    "region": lambda v: f"region {v}",
    "hubs": lambda v: f"{v} hub{'' if v == 1 else 's'}",
    "cancelled": lambda v: f"{v} not started, cancelled",
    # A batch's failed hub asked for again by the approver who clicked Retry failed.
    "retry_of": lambda v: f"retry of {v} (Retry failed), for the batch's requester",
    # A drill's own steps (its report is kept whole in the JSON).
    "drill": lambda v: f"drill {v}",
    "phase": lambda v: f"in phase {str(v).replace('_', ' ')}",
    "failback_at": lambda v: f"failback at {v}",
    # After a move: the verdict, or what was done to a consumer, as the thread said it.
    "said": lambda v: str(v),
    # Characters removed from what somebody typed (input -> what), before it was used.
    "cleaned": lambda v: "cleaned " + "; ".join(f"{k}: {c}" for k, c in v.items())
    if isinstance(v, dict) else f"cleaned: {v}",
}


def detail_words(event: AuditEvent) -> str:
    """The detail as a sentence or two; mentions are left as Slack wrote them."""
    detail = event.detail
    if event.action is AuditAction.REFUSED:
        # The message says why in words; the reason code is for machines.
        words = str(detail.get("message") or "refused")
        if detail.get("allowed_at"):
            words += f" Allowed again from {_allowed_from(detail['allowed_at'])}."
        return words
    parts = [_WORDS[key](value) for key, value in detail.items()
             if key in _WORDS and value not in (None, "")]
    return "; ".join(p for p in parts if p)
