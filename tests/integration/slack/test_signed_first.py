"""The HTTP face checks the signature before anything of a body is parsed, and a signed
payload of a shape Slack never sends is a 400 and one log line: no traceback, no effect.
Socket Mode, which has no signatures, holds the same shape checks."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from starlette.testclient import TestClient

import bot.web
from bot.domain.request import RequestStatus
from bot.store.base import AuditQuery
from bot.store.health import WRITABLE, DatabaseHealth
from bot.web import create_web_app, socket_mode_handler

from .conftest import HUB, SECRET, Bot, signed

DEEP = "payload=" + "[" * 150_000  # nested past Python's recursion limit, under the size cap


@pytest.fixture
def web(bot: Bot) -> TestClient:
    app = create_web_app(bot.app, signing_secret=SECRET,
                         database_health=lambda: DatabaseHealth(WRITABLE))
    return TestClient(app, raise_server_exceptions=False)  # a 500 is a status, not a raise


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bodies the HTTP face handed to Bolt's parser."""
    seen: list[str] = []
    real = bot.web.BoltRequest

    def parse(*, body: str, **kwargs: Any) -> Any:
        seen.append(body)
        return real(body=body, **kwargs)

    monkeypatch.setattr(bot.web, "BoltRequest", parse)
    return seen


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    """What the bot and Bolt logged at production's level (the test client's own request
    lines left out)."""
    with caplog.at_level(logging.INFO):
        yield lambda: [r for r in caplog.records if not r.name.startswith(("httpx", "asyncio"))]


def _payload(body: str) -> dict[str, Any]:
    return dict(json.loads(dict(parse_qsl(body))["payload"]))


def _form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def test_a_deeply_nested_unsigned_body_is_refused_before_it_is_parsed(
        web: TestClient, parsed: list[str],
        logged: Callable[[], list[logging.LogRecord]]) -> None:
    answers = [web.post("/slack/events", content=DEEP, headers={
        "content-type": "application/x-www-form-urlencoded"}).status_code for _ in range(50)]
    assert answers == [401] * 50
    assert parsed == []
    records = logged()
    assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    # A flood adds a line per power of ten, not one each: the 1st and the 10th.
    assert [r.getMessage().split(" with ")[0] for r in records] == [
        "refused 1 Slack request", "refused 10 Slack requests"]


def test_a_deeply_nested_signed_body_is_a_400_and_one_line(
        web: TestClient, logged: Callable[[], list[logging.LogRecord]]) -> None:
    response = web.post("/slack/events", content=DEEP, headers=signed(DEEP))
    assert response.status_code == 400
    [line] = logged()
    assert line.levelno == logging.WARNING and not line.exc_info
    assert "does not parse" in line.getMessage() and "[[[" not in line.getMessage()


def _without_state(bot: Bot) -> str:
    """The regional dialog's submission, with no ``state`` at all."""
    bot.command("failover --region West Europe")
    modal = list(bot.slack.views.values())[-1]
    return _form({"type": "view_submission", "team": {"id": bot.slack.team_id},
                  "user": {"id": "U0ALICE"}, "api_app_id": "A0BOT",
                  "view": {**modal.view, "id": modal.id, "hash": modal.hash}})


MALFORMED: dict[str, Callable[[Bot, str], str]] = {
    "no actions": lambda bot, rid: _form({**_payload(bot.click_body("approve", rid)),
                                          "actions": []}),
    "team as a list": lambda bot, rid: _form({**_payload(bot.click_body("approve", rid)),
                                              "team": [bot.slack.team_id]}),
    "view as a string in a click": lambda bot, rid: _form({
        **_payload(bot.click_body("approve", rid)), "view": "modal"}),
    "view as a string in a submission": lambda bot, rid: _form({
        "type": "view_submission", "team": {"id": bot.slack.team_id}, "user": {"id": "U0BOB"},
        "api_app_id": "A0BOT", "view": "modal"}),
    "a region dialog with no state": lambda bot, rid: _without_state(bot),
    "a command whose text is a number": lambda bot, rid: json.dumps({
        **dict(parse_qsl(bot.command_body(f"status {HUB}"))), "text": 42}),
}


@pytest.mark.parametrize("shape", MALFORMED)
def test_a_signed_payload_of_the_wrong_shape_is_a_400_one_line_and_no_effect(
        web: TestClient, bot: Bot, shape: str,
        logged: Callable[[], list[logging.LogRecord]]) -> None:
    request_id = bot.request_and_submit()
    body = MALFORMED[shape](bot, request_id)
    calls, events = len(bot.slack.calls()), bot.service.reading.audit(AuditQuery(limit=100))
    headers = signed(body, content_type="application/json") if body.startswith("{") \
        else signed(body)
    before = len(logged())

    response = web.post("/slack/events", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"error": "malformed request"}
    [line] = logged()[before:]
    assert line.levelno == logging.WARNING and not line.exc_info
    assert "malformed" in line.getMessage() and "U0BOB" not in line.getMessage()
    assert len(bot.slack.calls()) == calls  # nobody was answered, no dialog touched
    assert bot.service.reading.audit(AuditQuery(limit=100)) == events
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL


def test_a_signed_payload_of_the_right_shape_still_acts(web: TestClient, bot: Bot) -> None:
    request_id = bot.request_and_submit()
    body = bot.click_body("approve", request_id)
    assert web.post("/slack/events", content=body, headers=signed(body)).status_code == 200
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is not RequestStatus.AWAITING_APPROVAL


class _SocketClient:
    """What the handler answers Slack with over the WebSocket."""

    def __init__(self) -> None:
        self.sent: list[SocketModeResponse] = []
        self.logger = logging.getLogger("tests.socket_mode")

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.sent.append(response)


@pytest.mark.parametrize("shape", ["no actions", "team as a list", "view as a string in a click"])
def test_socket_mode_holds_the_same_shape_checks(
        bot: Bot, shape: str, logged: Callable[[], list[logging.LogRecord]]) -> None:
    request_id = bot.request_and_submit()
    payload = _payload(MALFORMED[shape](bot, request_id))
    handler = socket_mode_handler(bot.app, "xapp-1-test")
    client = _SocketClient()
    before = len(logged())
    try:
        handler.handle(client, SocketModeRequest(type="interactive", envelope_id="env-1",  # type: ignore[arg-type]
                                                 payload=payload))
        [line] = logged()[before:]
        assert line.levelno == logging.WARNING and not line.exc_info
        assert [r.envelope_id for r in client.sent] == ["env-1"]  # acked: Slack sends it once
        request = bot.service.reading.get_request(request_id)
        assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL

        # The same click, well formed, is dispatched to the app as before.
        handler.handle(client, SocketModeRequest(  # type: ignore[arg-type]
            type="interactive", envelope_id="env-2",
            payload=_payload(bot.click_body("approve", request_id))))
        request = bot.service.reading.get_request(request_id)
        assert request is not None and request.status is not RequestStatus.AWAITING_APPROVAL
    finally:
        handler.close()


def test_a_command_naming_payload_is_answered_not_lost(web: TestClient, bot: Bot) -> None:
    """Bolt reads any form body with the text "payload" in it as an interactive payload (and,
    finding none, as nothing: a 404). The HTTP face re-encodes such a command, signed anew."""
    body = bot.command_body("status payload-hub")
    response = web.post("/slack/events", content=body, headers=signed(body))
    assert response.status_code == 200
    answered = json.dumps([r.body for r in bot.slack.responses]) + response.text
    assert "payload-hub" in answered
