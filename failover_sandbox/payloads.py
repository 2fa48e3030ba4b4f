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
import time
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
    """A click on a button in a channel message (``message`` as the API stores it)."""
    return _interaction({
        "type": "block_actions", "api_app_id": APP_ID, "token": "sandbox-verification-token",
        "team": {"id": team_id, "domain": "sandbox"},
        "user": _user(user_id, user_name, team_id),
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel_id,
                      "is_ephemeral": is_ephemeral},
        "channel": {"id": channel_id, "name": channel_name},
        "message": {"type": "message", "ts": message["ts"], "user": message.get("user"),
                    "text": message.get("text", ""), "blocks": message.get("blocks", [])},
        "trigger_id": trigger_id, "response_url": response_url,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        "state": {"values": {}},
    })


def view_with_state(view: Json, hash_: str, values: dict[str, dict[str, str | None]]) -> Json:
    """The view as Slack sends it back: ``state.values[block_id][action_id]`` per input."""
    state: dict[str, Json] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        block_id, action_id = block.get("block_id"), element.get("action_id")
        if not block_id or not action_id:
            continue
        value = (values.get(block_id) or {}).get(action_id)
        state[block_id] = {action_id: {"type": element.get("type", "plain_text_input"),
                                       "value": value if value else None}}
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
