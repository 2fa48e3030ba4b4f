"""The edge's shape check passes every payload Slack documents (and the sandbox sends) and
names the field of each shape Slack never sends."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.slack.shapes import bolt_readable, shape_error
from failover_sandbox import payloads
from tests.support import documented

DOCUMENTED = ["block_actions", "block_actions_org_install", "view_submission",
              "view_submission_org_install", "slash_command", "slash_command_org_install"]


def _payload(form: str) -> dict[str, Any]:
    return dict(json.loads(dict(parse_qsl(form))["payload"]))


@pytest.mark.parametrize("name", DOCUMENTED)
def test_slacks_documented_payloads_pass(name: str) -> None:
    assert shape_error(documented(name)) is None


def test_the_sandboxs_payloads_pass() -> None:
    message = {"ts": "1.000100", "text": "", "blocks": []}
    click = payloads.button_click(
        user_id="U1", user_name="u", team_id="T1", channel_id="C1", channel_name="c",
        message=message, action={"action_id": "approve", "value": "fr-1", "type": "button"},
        trigger_id="t", response_url="https://example.invalid/r")
    view = {"id": "V1", "type": "modal", "callback_id": "x", "private_metadata": "",
            "state": {"values": {}}}
    submission = payloads.view_submission(user_id="U1", user_name="u", team_id="T1",
                                          view=view, trigger_id="t")
    home = json.loads(payloads.app_home_opened(user_id="U1", team_id="T1", channel_id="D1"))
    command = dict(parse_qsl(payloads.slash_command(
        command="/iothub", text="help", user_id="U1", user_name="u", team_id="T1",
        channel_id="C1", channel_name="c", response_url="https://example.invalid/r",
        trigger_id="t")))
    for body in (_payload(click), _payload(submission), home, command):
        assert shape_error(body) is None, body


def _changed(name: str, **fields: Any) -> dict[str, Any]:
    return {**documented(name), **fields}


@pytest.mark.parametrize(("body", "named"), [
    ([1, 2], "not an object"),
    (_changed("block_actions", actions=[]), "actions"),
    (_changed("block_actions", actions=["approve"]), "action"),
    (_changed("block_actions", team=["T1"]), "team"),
    (_changed("block_actions", team=5), "team"),
    (_changed("block_actions", view="modal"), "view"),
    (_changed("block_actions", user={"id": ["U1"]}), "user"),
    (_changed("block_actions", container={"message_ts": 1.5}), "container.message_ts"),
    (_changed("view_submission", view="modal"), "view"),
    (_changed("view_submission", view={"id": "V1", "type": "modal", "callback_id": "x"}),
     "state"),
    (_changed("view_submission", view={"id": "V1", "type": "modal", "callback_id": "x",
                                       "state": {"values": {"hubs": ["weu-a"]}}}), "state"),
    (_changed("view_submission", view={"private_metadata": {"hub": "x"}}), "private_metadata"),
    (_changed("slash_command", text=42), "text"),
    ({k: v for k, v in documented("slash_command").items() if k != "trigger_id"}, "trigger_id"),
    (_changed("view_submission", view={"id": "V1", "type": "modal", "callback_id": "x",
                                       "private_metadata": "[" * 3001,
                                       "state": {"values": {}}}), "private_metadata"),
    ({"type": "event_callback", "team_id": "T1", "event": "app_home_opened"}, "event"),
    ({"type": "event_callback", "team_id": "T1",
      "event": {"type": "app_home_opened", "user": {"id": "U1"}}}, "event.user"),
    # A command's form with an "event" field (found by tests/fuzz): Bolt reads it as an event.
    (_changed("slash_command", event="null"), "event"),
    (_changed("slash_command", response_url="null"), "response_url"),
    # Found by the long fuzz profile: each answered 500 or logged a traceback.
    (_changed("slash_command", response_url="http:// 127.0.0.1:9/r"), "response_url"),
    (_changed("block_actions", actions=[{}]), "action_id"),
    (_changed("slash_command", response_url="http://\u00e9\u00e9127.0.0.1:9/r"), "response_url"),
    (_changed("slash_command", response_url="http://\x1b[31m127.0.0.1:9/r"), "response_url"),
    (_changed("block_actions", user={"id": "", "team_id": "T1"}), "user.id"),
    (_changed("block_actions", user={"id": " ", "team_id": "T1"}), "user.id"),
    (_changed("slash_command", response_url="http://<!channel>127.0.0.1:9/r"), "response_url"),
    (_changed("view_submission", event=None), "event"),
    ({"event": None}, "event"),
    (_changed("view_submission", view={"id": "", "type": "modal", "callback_id": "x",
                                       "state": {"values": {}}}), "view.id"),
    (_changed("view_submission", view={"callback_id": "x", "type": "modal",
                                       "state": {"values": {}}}), "view.id"),
    (_changed("view_submission", view={"id": "V1", "callback_id": "x",
                                       "state": {"values": {}}}), "view.type"),
    ({"type": "event_callback", "team_id": "T1", "view": None,
      "event": {"type": "app_home_opened", "user": "U1"}}, "view"),
])
def test_each_shape_slack_never_sends_is_named(body: object, named: str) -> None:
    problem = shape_error(body)
    assert problem is not None and named in problem


def test_a_command_naming_payload_is_re_encoded_for_bolt_with_the_same_fields() -> None:
    from slack_bolt.request.internals import parse_body

    form = urlencode({"command": "/iothub", "text": "status payload-hub", "user_id": "U1"})
    assert parse_body(form, "application/x-www-form-urlencoded") == {}  # Bolt's misreading
    readable = bolt_readable(form)
    assert readable is not None
    assert parse_body(readable, "application/x-www-form-urlencoded") == dict(parse_qsl(form))
    assert bolt_readable(readable) is None  # once is enough
    assert bolt_readable(urlencode({"payload": "{}"})) is None  # a real payload stays
