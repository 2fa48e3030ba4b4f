"""What identifies the workspace, checked in every payload, on Slack's documented payloads
(``tests/fixtures/slack``): a payload naming no workspace, or a user of another team, is
refused with no effect; an app installed org-wide on Enterprise Grid is matched by its
organisation, so its payloads with no team (``"team": null``) still work."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.domain.request import RequestStatus
from failover_sandbox import slack_api
from tests.support import documented

from .conftest import APPROVER, CHANNEL, HUB, REQUESTER, Bot, MakeBot

ORG = "E111"  # the organisation of Slack's org-wide examples


def _click(bot: Bot, request_id: str, fixture: str = "block_actions") -> dict[str, Any]:
    """Slack's documented click, made on the request's approval message by the approver."""
    payload = documented(fixture)
    message = bot.approval_message()
    payload["user"]["id"] = APPROVER
    payload["container"].update(channel_id=CHANNEL, message_ts=message.ts)
    payload["channel"]["id"] = CHANNEL
    payload["message"].update(ts=message.ts, blocks=message.blocks)
    payload["actions"][0].update(action_id="approve", value=request_id)
    return payload


def _in_our_workspace(bot: Bot, payload: dict[str, Any]) -> dict[str, Any]:
    payload["team"]["id"] = payload["user"]["team_id"] = bot.slack.team_id
    return payload


def _dispatch(bot: Bot, payload: dict[str, Any]) -> int:
    return bot.dispatch(urlencode({"payload": json.dumps(payload)})).status


def _status(bot: Bot, request_id: str) -> RequestStatus:
    request = bot.service.reading.get_request(request_id)
    assert request is not None
    return request.status


def test_slacks_documented_click_approves(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    assert _dispatch(bot, _in_our_workspace(bot, _click(bot, request_id))) == 200
    assert _status(bot, request_id) is not RequestStatus.AWAITING_APPROVAL


def test_a_click_naming_no_workspace_is_refused(bot: Bot,
                                                caplog: pytest.LogCaptureFixture) -> None:
    request_id = bot.request_and_submit()
    payload = _in_our_workspace(bot, _click(bot, request_id))
    del payload["team"]
    del payload["user"]["team_id"]
    with caplog.at_level(logging.WARNING, logger="bot.slack.guard"):
        assert _dispatch(bot, payload) == 403
    assert _status(bot, request_id) is RequestStatus.AWAITING_APPROVAL
    assert bot.slack.calls("chat.postEphemeral") == []
    guard = [r for r in caplog.records if r.name == "bot.slack.guard"]  # not other threads'
    assert ["no workspace" in r.getMessage() for r in guard] == [True]


def test_a_user_of_another_team_is_refused_though_the_team_is_ours(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    payload = _in_our_workspace(bot, _click(bot, request_id))
    payload["user"]["team_id"] = "T0ELSEWHERE"
    assert _dispatch(bot, payload) == 403
    assert _status(bot, request_id) is RequestStatus.AWAITING_APPROVAL


def test_a_command_from_a_grid_workspace_is_answered(bot: Bot) -> None:
    """Slack's documented slash command comes from a workspace of a Grid organisation."""
    fields = documented("slash_command")
    fields.update(team_id=bot.slack.team_id, user_id=REQUESTER, channel_id=CHANNEL,
                  command="/iothub", text=f"failover {HUB}",
                  response_url=bot.server.response_url("grid"),
                  trigger_id=bot.slack.new_trigger())
    assert fields["enterprise_id"]
    assert bot.dispatch(urlencode(fields)).status == 200
    assert len(bot.slack.calls("views.open")) == 1


@pytest.fixture
def org_bot(make_bot: MakeBot, monkeypatch: pytest.MonkeyPatch) -> Bot:
    """The bot installed org-wide: auth.test names the organisation (Slack's example ids)."""
    plain = slack_api._METHODS["auth.test"]

    def org_wide(slack: slack_api.FakeSlack, params: Any) -> Any:
        return {**plain(slack, params), "enterprise_id": ORG, "is_enterprise_install": True}

    monkeypatch.setitem(slack_api._METHODS, "auth.test", org_wide)
    return make_bot()


def _org_command(bot: Bot, text: str) -> int:
    fields = documented("slash_command_org_install")
    fields.update(user_id=REQUESTER, channel_id=CHANNEL, command="/iothub", text=text,
                  response_url=bot.server.response_url("org"),
                  trigger_id=bot.slack.new_trigger())
    return bot.dispatch(urlencode(fields)).status


def _org_submission(bot: Bot) -> dict[str, Any]:
    modal = list(bot.slack.views.values())[-1]
    payload = documented("view_submission_org_install")
    assert payload["team"] is None  # Slack: "Null if the app is org-installed"
    payload["user"]["id"] = REQUESTER
    values = {"confirm_hub_name": {"confirm_hub_name": {"type": "plain_text_input",
                                                        "value": HUB}},
              "reason": {"reason": {"type": "plain_text_input", "value": "INC-42 outage"}}}
    payload["view"] = {**payload["view"], **modal.view, "id": modal.id, "hash": modal.hash,
                       "state": {"values": values}}
    return payload


def test_an_org_wide_install_works_by_its_organisation_with_no_team(org_bot: Bot) -> None:
    assert _org_command(org_bot, f"failover {HUB}") == 200
    assert _dispatch(org_bot, _org_submission(org_bot)) == 200
    request_id = org_bot.approval_buttons()["approve"]
    assert _dispatch(org_bot, _click(org_bot, request_id, "block_actions_org_install")) == 200
    assert _status(org_bot, request_id) is not RequestStatus.AWAITING_APPROVAL


def test_an_org_wide_install_refuses_another_organisation(org_bot: Bot) -> None:
    assert _org_command(org_bot, f"failover {HUB}") == 200
    assert _dispatch(org_bot, _org_submission(org_bot)) == 200
    request_id = org_bot.approval_buttons()["approve"]
    elsewhere = _click(org_bot, request_id, "block_actions_org_install")
    elsewhere["enterprise"]["id"] = elsewhere["team"]["enterprise_id"] = "E999"
    elsewhere["user"]["team_id"] = "E999"
    assert _dispatch(org_bot, elsewhere) == 403
    nowhere = _click(org_bot, request_id, "block_actions_org_install")
    for key in ("enterprise", "team"):
        del nowhere[key]
    assert _dispatch(org_bot, nowhere) == 403
    assert _status(org_bot, request_id) is RequestStatus.AWAITING_APPROVAL
