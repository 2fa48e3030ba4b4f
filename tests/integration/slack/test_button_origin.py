"""A button's value must belong to the message it was clicked on: an Approve click whose
value is one batch member's request id, or another request's id, is refused with a clear
answer and an audit event, and nothing is approved or POSTed to Azure."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.domain.rules import RefusalReason
from bot.store.base import AuditQuery
from failover_sandbox.fleet.simulated import SIM_BOT_CALLER

from .conftest import APPROVER, CHANNEL, HUB, Bot, MakeBot
from .test_regional import board, buttons, open_dialog, submit

FIVE = ["weu-a", "weu-b", "weu-c", "weu-d", "weu-e"]


@pytest.fixture
def bot(make_bot: MakeBot) -> Bot:
    bot = make_bot()
    for name in FIVE:
        bot.gateway.add_hub(name, "West Europe", 1_000)
    return bot


def _started_in_azure(bot: Bot) -> list[str]:
    since = datetime(2000, 1, 1, tzinfo=bot.clock.now().tzinfo)
    return [hub.name for hub in bot.gateway.list_hubs()
            for op in bot.gateway.failover_operations(hub.ref, since)
            if op.caller == SIM_BOT_CALLER]


def _wrong_message_refusals(bot: Bot) -> list[tuple[str, str | None]]:
    events = bot.service.reading.audit(AuditQuery(
        limit=100, actions=frozenset({AuditAction.REFUSED})))
    return [(e.actor, e.request_id) for e in events
            if e.detail.get("reason") == RefusalReason.WRONG_MESSAGE.value]


def _told(bot: Bot) -> str:
    return json.dumps([c.params for c in bot.slack.calls("chat.postEphemeral")])


def test_a_batch_members_id_clicked_on_the_board_approves_nothing(bot: Bot) -> None:
    submit(bot, open_dialog(bot, "failover --region West Europe"), hubs=FIVE)
    message = board(bot)
    assert "0 of 5 done" in json.dumps(message.blocks)
    batch_id = buttons(message)["approve"]
    members = {e.request_id for e in bot.service.reading.audit(AuditQuery(
        limit=100, batch_id=batch_id)) if e.request_id}
    member = sorted(members)[0]

    bot.click("approve", member, user=APPROVER, message=message)

    request = bot.service.reading.get_request(member)
    assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL
    assert _started_in_azure(bot) == []
    assert _wrong_message_refusals(bot) == [(APPROVER, member)]
    assert f"one hub of batch `{batch_id}`" in _told(bot)
    assert buttons(board(bot)) == {"approve": batch_id, "reject": batch_id}
    assert "0 of 5 done" in json.dumps(board(bot).blocks)

    bot.click("approve", batch_id, user=APPROVER, message=message)  # the board's own value
    assert all(r.status is not RequestStatus.AWAITING_APPROVAL for m in members
               if (r := bot.service.reading.get_request(m)) is not None)


def test_a_requests_id_clicked_on_another_requests_message_is_refused(bot: Bot) -> None:
    first = bot.request_and_submit(HUB)
    bot.submit(bot.open_modal("weu-a"), name="weu-a")
    second = next(v for m in bot.slack.messages(CHANNEL, top_level=True)
                  if (v := buttons(m).get("approve")) and v != first)
    on_second = bot.message_with_button(second)

    bot.click("approve", first, user=APPROVER, message=on_second)

    for request_id in (first, second):
        request = bot.service.reading.get_request(request_id)
        assert request is not None and request.status is RequestStatus.AWAITING_APPROVAL
    assert _started_in_azure(bot) == []
    assert _wrong_message_refusals(bot) == [(APPROVER, first)]
    assert "does not belong to request" in _told(bot)


def test_a_batch_id_clicked_on_a_requests_message_stops_nothing(bot: Bot) -> None:
    request_id = bot.request_and_submit(HUB)
    submit(bot, open_dialog(bot, "failover --region West Europe"), hubs=FIVE)
    batch_id = buttons(board(bot))["approve"]

    bot.click("reject", batch_id, user=APPROVER, message=bot.message_with_button(request_id))

    assert bot.service.boards.board(batch_id).batch.decided_at is None  # type: ignore[union-attr]
    assert (APPROVER, None) in _wrong_message_refusals(bot)
    assert "does not belong to batch" in _told(bot)
