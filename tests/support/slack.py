"""Slack's requests as Slack signs and builds them, on top of ``failover_sandbox.payloads``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from failover_sandbox import payloads

FORM = payloads.FORM
FIXTURES = Path(__file__).parents[1] / "fixtures" / "slack"


def documented(name: str) -> dict[str, Any]:
    """One of Slack's documented payloads (``tests/fixtures/slack/<name>.json``, see its
    README), as a fresh dict a test may change."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def signed(body: str, secret: str, timestamp: int | None = None,
           content_type: str = FORM) -> dict[str, str]:
    """The headers Slack sends with ``body``: content type, timestamp and ``v0=`` signature."""
    headers = payloads.signed_headers(body, secret, timestamp=timestamp,
                                      content_type=content_type)
    return {name.lower(): value for name, value in headers.items()}


def slash_command(*, text: str, response_url: str, trigger_id: str,
                  command: str = "/iothub", user_id: str = "U0ALICE",
                  user_name: str = "alice", team_id: str = "T0SANDBOX",
                  channel_id: str = "C0INCIDENT", channel_name: str = "incident") -> str:
    """A slash command's form-encoded body (``/iothub`` by Alice in #incident by default)."""
    return payloads.slash_command(
        command=command, text=text, user_id=user_id, user_name=user_name, team_id=team_id,
        channel_id=channel_id, channel_name=channel_name, response_url=response_url,
        trigger_id=trigger_id)
