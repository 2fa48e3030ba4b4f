"""Where a button was clicked, as a ``block_actions`` payload says it: its ``container``
(``bot.slack.shapes`` has checked the types), so the service can tell whether the button's
value belongs to that message (``bot.domain.clicks``); and the answer to the clicker there."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient

from bot.domain.clicks import ClickedMessage

log = logging.getLogger(__name__)


def clicked_message(body: Mapping[str, Any]) -> ClickedMessage:
    """Empty ids when the click was on no channel message (a dialog, the Home tab): such a
    click matches no request's or batch's message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or message.get("ts") or ""
    thread = container.get("thread_ts") or message.get("thread_ts")
    return ClickedMessage(str(channel), str(ts), str(thread) if thread else None)


def teller(client: WebClient, clicked: ClickedMessage, user: str) -> Callable[..., None]:
    """Answers the clicker, seen by them only, in the channel of the click."""

    def tell(text: str, blocks: list[Any] | None = None) -> None:
        if not clicked.channel_id:  # a click on no channel message: nowhere to answer
            log.info("a click on no channel message was not answered: %s", text)
            return
        client.chat_postEphemeral(channel=clicked.channel_id, user=user, text=text,
                                  blocks=blocks)

    return tell
