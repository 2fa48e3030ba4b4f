"""Slack's request bodies, built and signed as Slack builds and signs them.

Slash commands are form-encoded fields; interactions (``block_actions``, ``view_submission``,
``view_closed``) are one form field ``payload`` holding JSON. Every request carries
``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` = ``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}`` with the app's signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

Json = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
APP_ID = "A0SANDBOX"


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: str, secret: str, *, timestamp: int | None = None,
                   content_type: str = FORM) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret, ts, body)}


_LINK = re.compile(r"(?<![\w<|])([@#])(\w+(?:[.\-]\w+)*)")


def escape_command_text(text: str, *, users: Mapping[str, str],
                        channels: Mapping[str, str]) -> str:
    """A slash command's text as Slack sends it when the command has ``should_escape``
    (manifest.yml): ``&``, ``<``, ``>`` HTML-escaped, ``@name`` of a member as
    ``<@U…|name>`` and ``#name`` of a channel as ``<#C…|name>``. ``users`` and ``channels``
    map lower-case names to ids; other words stay as typed."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def link(match: re.Match[str]) -> str:
        sigil, name = match.groups()
        found = (users if sigil == "@" else channels).get(name.lower())
        return f"<{sigil}{found}|{name.lower()}>" if found else match.group(0)

    return _LINK.sub(link, escaped)


def slash_command(*, command: str, text: str, user_id: str, user_name: str, team_id: str,
                  channel_id: str, channel_name: str, response_url: str,
                  trigger_id: str) -> str:
    return urlencode({
        "token": "sandbox-verification-token", "team_id": team_id, "team_domain": "sandbox",
        "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
        "user_name": user_name, "command": command, "text": text, "api_app_id": APP_ID,
        "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": trigger_id,
    })


def _interaction(payload: Json) -> str:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def _user(user_id: str, user_name: str, team_id: str) -> Json:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def button_click(*, user_id: str, user_name: str, team_id: str, channel_id: str,
                 channel_name: str, message: Json, action: Json, trigger_id: str,
                 response_url: str, is_ephemeral: bool = False) -> str:
    """A click on a button in a channel message (``message`` as the API stores it); in a
    thread reply, the container and the message name the thread (``thread_ts``)."""
    container: Json = {"type": "message", "message_ts": message["ts"], "channel_id": channel_id,
                       "is_ephemeral": is_ephemeral}
    shown: Json = {"type": "message", "ts": message["ts"], "user": message.get("user"),
                   "text": message.get("text", ""), "blocks": message.get("blocks", [])}
    thread_ts = message.get("thread_ts")
    if thread_ts:
        container["thread_ts"] = shown["thread_ts"] = thread_ts
    return _interaction({
        "type": "block_actions", "api_app_id": APP_ID, "token": "sandbox-verification-token",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": _user(user_id, user_name, team_id),
        "container": container,
        "channel": {"id": channel_id, "name": channel_name},
        "message": shown,
        "trigger_id": trigger_id, "response_url": response_url,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        "state": {"values": {}},
    })


Typed = str | list[str] | None  # what a person left in one input: text, or option values

# Elements whose state is options picked from the element's own ``options``/``option_groups``.
_MANY_OPTIONS = frozenset({"multi_static_select", "checkboxes"})
_ONE_OPTION = frozenset({"static_select", "radio_buttons"})


def options_of(element: Json) -> list[Json]:
    """Every option an element offers, its ``option_groups`` flattened."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    return options


def element_state(element: Json, typed: Typed, *, touched: bool = True) -> Json:
    """One input's state as Slack reports it in ``view.state.values``.

    ``typed`` is what the person left there: the text of a ``plain_text_input``, or the
    values of the options they picked; an input they never touched (``touched=False``)
    reports its initial value or options, as Slack does. Picked options are sent back whole
    (``text`` and ``value``), in the element's own order, and unknown values are dropped.
    """
    kind = str(element.get("type") or "plain_text_input")
    if kind in _MANY_OPTIONS or kind in _ONE_OPTION:
        if touched:
            wanted = {typed} if isinstance(typed, str) else set(typed or [])
            picked = [o for o in options_of(element) if o.get("value") in wanted]
        else:
            initial = element.get("initial_options") or (
                [element["initial_option"]] if element.get("initial_option") else [])
            values = {o.get("value") for o in initial}
            picked = [o for o in options_of(element) if o.get("value") in values]
        if kind in _MANY_OPTIONS:
            return {"type": kind, "selected_options": picked}
        return {"type": kind, "selected_option": picked[0] if picked else None}
    text = typed if touched else element.get("initial_value")
    if isinstance(text, list):
        text = "\n".join(text)
    return {"type": kind, "value": text if text else None}


def view_with_state(view: Json, hash_: str, values: dict[str, dict[str, Typed]]) -> Json:
    """The view as Slack sends it back: ``state.values[block_id][action_id]`` per input."""
    state: dict[str, Json] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        block_id, action_id = block.get("block_id"), element.get("action_id")
        if not block_id or not action_id:
            continue
        given = values.get(block_id) or {}
        state[block_id] = {action_id: element_state(element, given.get(action_id),
                                                    touched=action_id in given)}
    return {**view, "hash": hash_, "state": {"values": state}, "team_id": view.get("team_id"),
            "app_id": APP_ID}


def view_submission(*, user_id: str, user_name: str, team_id: str, view: Json,
                    trigger_id: str) -> str:
    return _interaction({
        "type": "view_submission", "api_app_id": APP_ID, "token": "sandbox-verification-token",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": _user(user_id, user_name, team_id), "trigger_id": trigger_id,
        "view": view, "response_urls": [],
    })


def view_closed(*, user_id: str, user_name: str, team_id: str, view: Json) -> str:
    return _interaction({
        "type": "view_closed", "api_app_id": APP_ID, "token": "sandbox-verification-token",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": _user(user_id, user_name, team_id), "view": view, "is_cleared": False,
    })


def app_home_opened(*, user_id: str, team_id: str, channel_id: str) -> str:
    """The Events API's ``app_home_opened`` (a JSON body, not a form): the person opened the
    app's Home tab."""
    now = time.time()
    return json.dumps({
        "token": "sandbox-verification-token", "team_id": team_id, "api_app_id": APP_ID,
        "type": "event_callback", "event_id": f"Ev{int(now * 1000):012d}",
        "event_time": int(now), "authorizations": [{"team_id": team_id, "is_bot": True}],
        "event": {"type": "app_home_opened", "user": user_id, "channel": channel_id,
                  "tab": "home", "event_ts": f"{now:.6f}"},
    }, separators=(",", ":"))
