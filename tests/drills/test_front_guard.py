"""Drill: the real ``serve`` front refuses a signed command meant for another workspace.

The front asks Slack's ``auth.test`` once before it spawns anything; the answer must also
arm the workspace guard (a regression here would pass every in-process test)."""

from __future__ import annotations

import pytest
import requests

from bot.slack.guard import OTHER_WORKSPACE
from failover_sandbox import payloads

from .conftest import HUB
from .serve_harness import ALICE, CHANNEL, SIGNING_SECRET, Drill

pytestmark = pytest.mark.process_drill


def _command(drill: Drill, team_id: str) -> requests.Response:
    assert drill.bot is not None
    body = payloads.slash_command(
        command="/iothub", text=f"failover {HUB}", user_id=ALICE.id, user_name=ALICE.handle,
        team_id=team_id, channel_id=CHANNEL.id, channel_name=CHANNEL.name,
        response_url=drill.slack.response_url("drill"), trigger_id="T.1")
    return requests.post(drill.bot.url + "/slack/events", data=body.encode(), timeout=10,
                         headers=payloads.signed_headers(body, SIGNING_SECRET))


def test_the_front_refuses_a_command_for_another_workspace(drill: Drill) -> None:
    drill.start_bot()
    refused = _command(drill, "T0ELSEWHERE")
    assert refused.status_code == 200
    assert refused.json()["text"] == OTHER_WORKSPACE

    accepted = _command(drill, drill.workspace.team_id)
    assert accepted.status_code == 200
    assert OTHER_WORKSPACE not in accepted.text
