"""What people type, through the real Bolt app with signed requests, on SQLite and (with
POSTGRES_TEST_URL) PostgreSQL: lone surrogates, control, bidi and zero-width characters are
removed before anything stores or shows them, and the removal is audited; a reason over the
dialog's limit is refused inline; typed text echoed back is inert mrkdwn."""

from __future__ import annotations

import json

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus

from .conftest import CHANNEL, HUB, REQUESTER, Bot
from .test_regional import board, open_dialog, submit

HIDDEN = "\u202e\u200b\u0085\ufeff\u2066"  # RLO, ZWSP, NEL (C1), BOM, LRI


@pytest.fixture
def db_file_url(db_url: str) -> str:
    """SQLite and, when POSTGRES_TEST_URL is set, PostgreSQL."""
    return db_url



def _received(bot: Bot) -> str:
    """Everything the bot sent to Slack: API calls and response_url posts."""
    return json.dumps([c.params for c in bot.slack.calls()]
                      + [r.body for r in bot.slack.responses], ensure_ascii=False)


def _went_wrong(bot: Bot) -> bool:
    return "went wrong" in _received(bot)


def test_a_lone_surrogate_in_a_reason_is_removed_and_the_request_audited(bot: Bot) -> None:
    body = bot.submission_body(bot.open_modal(), name=HUB, reason="INC-42 \ud800outage")
    assert "%5Cud800" in body  # as Slack's JSON carries it: an escape, not a character

    bot.dispatch(body)

    assert not _went_wrong(bot)
    request_id = bot.approval_buttons()["approve"]
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL
    assert request.reason == "INC-42 outage"
    cleaned, requested = bot.audit(request_id=request_id)
    assert requested.action is AuditAction.REQUESTED
    assert requested.detail["reason"] == "INC-42 outage"
    assert cleaned.action is AuditAction.CLEANED and cleaned.actor == REQUESTER
    assert cleaned.detail["cleaned"] == {"reason": "removed 1 lone surrogate (U+D800)"}


def test_a_lone_surrogate_in_a_regional_reason_records_the_batch(bot: Bot) -> None:
    bot.gateway.add_hub("weu-a", "West Europe", 100)

    submit(bot, open_dialog(bot), hubs=["weu-a"], reason="INC-77 \udfff West Europe down")

    assert not _went_wrong(bot)
    assert "INC-77  West Europe down" in json.dumps(board(bot).blocks)
    batch_id = [e for e in bot.audit() if e.action is AuditAction.REQUESTED][-1].batch_id
    [cleaned] = bot.audit(actions=frozenset({AuditAction.CLEANED}))
    assert cleaned.batch_id == batch_id
    assert cleaned.detail["cleaned"] == {"reason": "removed 1 lone surrogate (U+DFFF)"}


def test_bidi_zero_width_and_c1_characters_reach_neither_slack_nor_the_audit(
        bot: Bot) -> None:
    bot.submit(bot.open_modal(), name=f"contoso{HIDDEN}-hub",
               reason=f"INC-42 {HIDDEN}pu.ssecca{HIDDEN}")

    request_id = bot.approval_buttons()["approve"]  # the typed name matched, once cleaned
    shown = json.dumps(bot.approval_message().blocks, ensure_ascii=False)
    assert "INC-42 pu.ssecca" in shown
    stored = json.dumps([e.detail for e in bot.audit()], ensure_ascii=False)
    assert "INC-42 pu.ssecca" in stored
    for hidden in HIDDEN:
        assert hidden not in shown + _received(bot) + stored
    [cleaned] = bot.audit(actions=frozenset({AuditAction.CLEANED}))
    assert cleaned.request_id == request_id
    assert set(cleaned.detail["cleaned"]) == {"confirm_hub_name", "reason"}
    assert cleaned.detail["cleaned"]["reason"] == (
        "removed 4 bidi controls, 2 control characters, 4 zero-width characters "
        "(U+202E U+200B U+0085 U+FEFF U+2066)")


def test_a_reason_over_the_dialogs_limit_is_refused_inline_and_audited(bot: Bot) -> None:
    response = bot.submit(bot.open_modal(), reason="x" * 10_000)

    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    assert body["errors"] == {"reason": "The reason is 10,000 characters long; at most "
                                        "1,000, please."}
    assert bot.slack.messages(CHANNEL) == []
    with bot.service.uow() as uow:
        assert uow.requests.open_for_hub(HUB) is None
    [refused] = bot.audit(actions=frozenset({AuditAction.REFUSED}))
    assert refused.detail["reason"] == "input_too_long"


def test_a_regional_reason_over_the_dialogs_limit_is_refused_inline(bot: Bot) -> None:
    bot.gateway.add_hub("weu-a", "West Europe", 100)

    response = submit(bot, open_dialog(bot), hubs=["weu-a"], reason="y" * 1_001)

    body = json.loads(response.body)
    assert body["response_action"] == "errors" and "1,001 characters" in body["errors"]["reason"]
    assert bot.slack.messages(CHANNEL) == []
    assert [e.detail["reason"] for e in bot.audit()] == ["input_too_long"]


@pytest.mark.parametrize("value", ["fb-<!channel>", "fr-<!channel>",
                                   "fb-<http://evil.example|click>"])
def test_a_button_value_echoed_back_is_inert(bot: Bot, value: str) -> None:
    bot.request_and_submit()

    bot.click("approve", value)

    told = bot.slack.calls("chat.postEphemeral")[-1].params
    shown = str(told["text"]) + str(told["blocks"])
    assert "There is no " in shown and "&lt;" in shown
    assert "<!channel>" not in _received(bot) and "<http://evil" not in _received(bot)


def test_hidden_characters_in_a_command_are_removed_and_audited(bot: Bot) -> None:
    bot.command(f"status contoso\u200b-hub{HIDDEN}")

    answer = json.dumps(bot.slack.responses[-1].body)
    assert "contoso-hub" in answer and "No IoT Hub" not in answer
    [cleaned] = bot.audit(actions=frozenset({AuditAction.CLEANED}))
    assert cleaned.actor == REQUESTER
    assert cleaned.detail["cleaned"] == {"command": (
        "removed 2 bidi controls, 1 control character, 3 zero-width characters "
        "(U+200B U+202E U+0085 U+FEFF U+2066)")}


def test_a_button_value_that_needed_cleaning_is_audited(bot: Bot) -> None:
    request_id = bot.request_and_submit()

    bot.click("approve", f"{request_id}\u200b\x00")

    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is not RequestStatus.AWAITING_APPROVAL
    [cleaned] = bot.audit(actions=frozenset({AuditAction.CLEANED}))
    assert cleaned.detail["cleaned"] == {
        "approve": "removed 1 control character, 1 zero-width character (U+200B U+0000)"}
