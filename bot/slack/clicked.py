"""Where a button was clicked, as a ``block_actions`` payload says it: its ``container``
(``bot.slack.shapes`` has checked the types), so the service can tell whether the button's
value belongs to that message (``bot.domain.clicks``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.clicks import ClickedMessage


def clicked_message(body: Mapping[str, Any]) -> ClickedMessage:
    """Empty ids when the click was on no channel message (a dialog, the Home tab): such a
    click matches no request's or batch's message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or message.get("ts") or ""
    thread = container.get("thread_ts") or message.get("thread_ts")
    return ClickedMessage(str(channel), str(ts), str(thread) if thread else None)
