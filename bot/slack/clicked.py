"""A clicked button, as its ``block_actions`` payload says it (``bot.slack.shapes`` has checked
the types): who clicked, the button's value, and where: its ``container``, so the service can
tell whether the value belongs to that message (``bot.domain.clicks``); and the answer to the
clicker there. The buttons' lazy halves read their clicks here (:func:`on_click`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.domain.clicks import ClickedMessage
from bot.domain.user_text import clean
from bot.slack.listener_deps import ListenerDeps, guarded

log = logging.getLogger(__name__)

Tell = Callable[..., None]


@dataclass(frozen=True)
class Click:
    """One click of one of the bot's buttons."""

    user: str  # who clicked
    on: ClickedMessage  # where: the value must belong to this message
    value: str  # the button's value, cleaned (:func:`clicked_value`)
    tell: Tell  # answers the clicker there (:func:`teller`)


def on_click(deps: ListenerDeps, work: Callable[[Click], None]) -> Callable[..., None]:
    """A button's lazy half: read the click, then do ``work`` with it; a failure of the work
    is told to the clicker (``bot.slack.listener_deps.guarded``)."""

    def clicked(body: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        on = clicked_message(body)
        click = Click(user, on, clicked_value(deps, body), teller(client, on, user))
        guarded(click.tell)(lambda: work(click))

    return clicked


def clicked_value(deps: ListenerDeps, body: dict[str, Any]) -> str:
    """The clicked button's value, cleaned (``bot.domain.user_text``); a value that needed
    cleaning was not the bot's own, and what was removed goes in the audit log."""
    action = body["actions"][0]
    value = clean(str(action.get("value") or ""))
    if value.changed:
        deps.service.refusals.record_cleaned({str(action.get("action_id"))[:40]: value.changes()},
                                             body["user"]["id"])
    return value.text


def clicked_message(body: Mapping[str, Any]) -> ClickedMessage:
    """Empty ids when the click was on no channel message (a dialog, the Home tab): such a
    click matches no request's or batch's message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
    ts = container.get("message_ts") or message.get("ts") or ""
    thread = container.get("thread_ts") or message.get("thread_ts")
    return ClickedMessage(str(channel), str(ts), str(thread) if thread else None)


def teller(client: WebClient, clicked: ClickedMessage, user: str) -> Tell:
    """Answers the clicker, seen by them only, in the channel of the click."""

    def tell(text: str, blocks: list[Any] | None = None) -> None:
        if not clicked.channel_id:  # a click on no channel message: nowhere to answer
            log.info("a click on no channel message was not answered: %s", text)
            return
        client.chat_postEphemeral(channel=clicked.channel_id, user=user, text=text,
                                  blocks=blocks)

    return tell
