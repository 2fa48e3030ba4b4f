"""What people type, and payloads for another workspace or app, through the real Bolt app
with signed requests: echoed text pings nobody, control characters never reach the
database, and a payload for another team or app changes nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.slack.guard import OTHER_WORKSPACE
from failover_sandbox import slack_api

from .conftest import HUB, REQUESTER, Bot, MakeBot


@pytest.fixture
def db_file_url(db_url: str) -> str:
    """SQLite and, when POSTGRES_TEST_URL is set, PostgreSQL (which refuses NUL in text)."""
    return db_url



def test_a_usage_error_echoes_what_was_typed_without_pinging_anyone(bot: Bot) -> None:
    response = bot.command("<!channel> & <@U0BOB>")
    body = json.loads(response.body)
    assert response.status == 200
    shown = body["text"] + json.dumps(body["blocks"])
    assert "<!channel>" not in shown and "<@U0BOB>" not in shown
    assert "&lt;!channel&gt;" in body["text"]


def test_a_nul_in_the_reason_is_dropped_and_the_request_audited(bot: Bot) -> None:
    bot.submit(bot.open_modal(), reason="INC-42\x00 outage\x07 in West Europe")
    request_id = bot.approval_buttons()["approve"]
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL
    assert request.reason == "INC-42 outage in West Europe"
    events = bot.audit(request_id=request_id)
    assert [e.action for e in events] == [AuditAction.CLEANED, AuditAction.REQUESTED]
    assert "2 control characters (U+0000 U+0007)" in events[0].detail["cleaned"]["reason"]
    assert "went wrong" not in json.dumps([v.view for v in bot.slack.views.values()])


def test_a_nul_in_a_command_is_refused_as_usage_and_audited(bot: Bot) -> None:
    response = bot.command("status contoso\x00hub")
    assert response.status == 200
    refused = bot.audit(actions=frozenset({AuditAction.REFUSED}))
    assert len(refused) == 1 and refused[0].actor == REQUESTER
    assert "\x00" not in json.dumps(refused[0].detail)


def test_a_nul_in_a_button_value_does_not_break_the_approval(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.click("approve", request_id + "\x00")
    assert "went wrong" not in str(bot.slack.calls("chat.postEphemeral"))
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is not RequestStatus.AWAITING_APPROVAL


def test_a_command_for_another_workspace_is_refused_with_no_effect(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    body = bot.command_body(f"failover {HUB}").replace(
        f"team_id={bot.slack.team_id}", "team_id=T0ELSEWHERE")
    assert "T0ELSEWHERE" in body
    with caplog.at_level(logging.WARNING, logger="bot.slack.guard"):
        response = bot.dispatch(body)
    assert json.loads(response.body)["text"] == OTHER_WORKSPACE
    assert bot.slack.calls("views.open") == []
    assert bot.audit() == []
    assert any("T0ELSEWHERE" in r.getMessage() for r in caplog.records)


def test_a_click_for_another_workspace_is_refused_with_no_effect(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    body = bot.click_body("approve", request_id).replace(bot.slack.team_id, "T0ELSEWHERE")
    assert bot.dispatch(body).status == 403
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL
    assert bot.click("approve", request_id).status == 200  # the real one still works
    assert bot.service.reading.get_request(request_id).status is not RequestStatus.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_a_payload_for_another_app_is_refused_when_the_app_id_is_known(
        make_bot: MakeBot, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = slack_api._METHODS["auth.test"]

    def auth_test_with_app_id(slack: slack_api.FakeSlack, params: Any) -> Any:
        return {**plain(slack, params), "app_id": "A0BOT"}

    monkeypatch.setitem(slack_api._METHODS, "auth.test", auth_test_with_app_id)
    bot = make_bot()
    other_app = bot.command_body(f"failover {HUB}").replace("api_app_id=A0BOT",
                                                            "api_app_id=A0OTHER")
    assert json.loads(bot.dispatch(other_app).body)["text"] == OTHER_WORKSPACE
    assert bot.slack.calls("views.open") == []
    bot.command(f"failover {HUB}")
    assert len(bot.slack.calls("views.open")) == 1
