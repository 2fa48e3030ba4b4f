"""From `/iothub failover` to the edited approval message, through the real Bolt app."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.request import RequestStatus

from .conftest import (
    APPROVER,
    AUDIT_CHANNEL,
    BYSTANDER,
    CHANNEL,
    HUB,
    OTHER_CHANNEL,
    REQUESTER,
    Bot,
    MakeBot,
)


def _texts(blocks: list[dict]) -> str:
    return json.dumps(blocks)


def test_failover_command_opens_a_loading_modal_then_shows_the_live_state(bot: Bot) -> None:
    response = bot.command(f"failover {HUB}")

    assert response.status == 200
    methods = [c.method for c in bot.slack.calls() if c.method.startswith("views.")]
    assert methods == ["views.open", "views.update"]
    opened = bot.slack.calls("views.open")[0].params["view"]
    assert "Reading the live state" in json.dumps(opened)
    modal = list(bot.slack.views.values())[-1]
    shown = _texts(modal.view["blocks"])
    assert "West Europe" in shown and "North Europe" in shown
    assert "1,200" in shown
    assert "Event Hub-compatible endpoint changes" in shown
    assert "2 of 2" in shown
    inputs = {b["block_id"]: b["element"]["action_id"] for b in modal.view["blocks"]
              if b["type"] == "input"}
    assert inputs == {"confirm_hub_name": "confirm_hub_name", "reason": "reason"}
    metadata = json.loads(modal.view["private_metadata"])
    assert metadata == {"hub": HUB, "kind": "failover", "channel": CHANNEL,
                        "active": "West Europe"}


def test_a_wrong_name_gets_an_inline_error_and_nothing_is_requested(bot: Bot) -> None:
    modal = bot.open_modal()

    response = bot.submit(modal, name="contoso-hbu")

    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"confirm_hub_name"}
    assert HUB in body["errors"]["confirm_hub_name"]
    assert bot.slack.messages(CHANNEL) == []
    refused = [e for e in bot.service.reading.audit(_all()) if e.action.value == "refused"]
    assert refused and refused[0].detail["reason"] == "name_mismatch"


def test_a_missing_reason_is_an_inline_error_on_the_reason_block(bot: Bot) -> None:
    body = json.loads(bot.submit(bot.open_modal(), reason="  ").body)
    assert body["response_action"] == "errors" and set(body["errors"]) == {"reason"}


def test_submitting_posts_the_approval_message_with_buttons(bot: Bot) -> None:
    modal = bot.open_modal()

    response = bot.submit(modal)

    assert json.loads(response.body)["response_action"] == "update"
    message = bot.approval_message()
    text = _texts(message.blocks)
    assert f"<@{REQUESTER}>" in text and "INC-42 outage" in text and "Expires" in text
    buttons = bot.approval_buttons()
    assert set(buttons) == {"approve", "reject"}
    assert buttons["approve"] == buttons["reject"] and buttons["approve"].startswith("fr-")
    confirms = [e.get("confirm") for b in message.blocks if b["type"] == "actions"
                for e in b["elements"]]
    assert all(confirms)
    assert "waiting for approval" in _texts(bot.slack.views[modal.id].view["blocks"])


def test_the_approval_message_is_mirrored_to_the_audit_channel(make_bot: MakeBot) -> None:
    bot = make_bot(bot_audit_channel=AUDIT_CHANNEL)
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    mirrored = bot.slack.messages(AUDIT_CHANNEL)
    assert mirrored, "nothing mirrored"
    assert not any(b["type"] == "actions" for m in mirrored for b in m.blocks)
    assert any("Approved by" in m.text for m in mirrored)


def test_approval_edits_the_message_and_starts_the_failover_once(bot: Bot) -> None:
    request_id = bot.request_and_submit()

    bot.click("approve", request_id)
    bot.click("approve", request_id)  # a double click

    assert bot.gateway.calls["start_failover"] == 1
    assert bot.approval_buttons() == {}
    outcome = _texts(bot.approval_message().blocks)
    assert f"Approved by <@{APPROVER}>" in outcome
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.RUNNING
    assert request.message_ts == bot.approval_message().ts
    loser = bot.slack.ephemerals(APPROVER)
    # Neutral (issue #14): who approved and when, no ⛔.
    assert len(loser) == 1 and loser[0].text.startswith(f"Request `{request_id}` is already "
                                                        f"approved by <@{APPROVER}> at ")
    assert "— nothing to do (it is running)." in loser[0].text
    assert ":no_entry:" not in json.dumps(loser[0].blocks)


def test_a_requester_cannot_approve_their_own_request(make_bot: MakeBot) -> None:
    bot = make_bot(bot_approvers="")
    request_id = bot.request_and_submit()

    bot.click("approve", request_id, user=REQUESTER)

    assert bot.gateway.calls["start_failover"] == 0
    assert "second person" in bot.slack.ephemerals(REQUESTER)[0].text
    assert set(bot.approval_buttons()) == {"approve", "reject"}


def test_only_members_of_the_approver_group_may_approve(bot: Bot) -> None:
    request_id = bot.request_and_submit()

    bot.click("approve", request_id, user=BYSTANDER)

    assert bot.gateway.calls["start_failover"] == 0
    assert "not an approver" in bot.slack.ephemerals(BYSTANDER)[0].text
    assert bot.slack.calls("usergroups.users.list")


def test_an_expired_request_cannot_be_approved(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.clock.advance(timedelta(minutes=31))

    bot.click("approve", request_id)

    assert bot.gateway.calls["start_failover"] == 0
    assert "expired" in bot.slack.ephemerals(APPROVER)[0].text


def test_failover_from_a_channel_outside_the_allowed_list_is_refused(bot: Bot) -> None:
    modal = bot.open_modal(channel=OTHER_CHANNEL)

    shown = _texts(modal.view["blocks"])
    assert "can't fail over" in shown and f"<#{CHANNEL}>" in shown
    assert not any(b["type"] == "input" for b in modal.view["blocks"])
    assert bot.gateway.calls["resolve"] == 0


def test_reject_edits_the_message_and_starts_nothing(bot: Bot) -> None:
    request_id = bot.request_and_submit()

    bot.click("reject", request_id)

    assert bot.gateway.calls["start_failover"] == 0
    assert f"Rejected by <@{APPROVER}>" in _texts(bot.approval_message().blocks)
    assert bot.approval_buttons() == {}


def test_without_required_approval_the_request_starts_at_once(make_bot: MakeBot) -> None:
    bot = make_bot(bot_require_approval="false")

    bot.submit(bot.open_modal())

    assert bot.gateway.calls["start_failover"] == 1
    assert bot.approval_buttons() == {}
    assert "Approved automatically" in _texts(bot.approval_message().blocks)


def test_a_refused_failback_says_why_and_when(bot: Bot) -> None:
    modal = bot.open_modal(kind="failback")

    shown = _texts(modal.view["blocks"])
    assert "home region" in shown and "failover contoso-hub" in shown


def _all() -> object:
    from bot.store.base import AuditQuery

    return AuditQuery(limit=100)


def test_simultaneous_clicks_by_two_approvers_start_one_failover(make_bot: MakeBot) -> None:
    import threading

    bot = make_bot(bot_approvers="")
    request_id = bot.request_and_submit()
    bodies = [bot.click_body("approve", request_id, user=user) for user in (APPROVER, BYSTANDER)]
    barrier = threading.Barrier(len(bodies))

    def click(body: str) -> None:
        barrier.wait()
        bot.dispatch(body)

    threads = [threading.Thread(target=click, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert bot.gateway.calls["start_failover"] == 1
    losers = bot.slack.ephemerals()
    assert len(losers) == 1 and "nothing to do" in losers[0].text


def test_when_slack_refuses_the_approval_message_the_modal_says_so(bot: Bot) -> None:
    modal = bot.open_modal()
    bot.slack.fail_next("chat.postMessage", "not_in_channel")

    bot.submit(modal)

    shown = _texts(bot.slack.views[modal.id].view["blocks"])
    assert "could not post" in shown and "not_in_channel" in shown and "/iothub cancel" in shown


def test_the_requester_pressing_reject_withdraws_their_request(bot: Bot) -> None:
    from bot.store.base import AuditQuery

    request_id = bot.request_and_submit()

    bot.click("reject", request_id, user=REQUESTER)

    assert bot.slack.ephemerals(REQUESTER) == []  # no "you cannot approve your own request"
    assert f"Cancelled by <@{REQUESTER}> (the requester)" in _texts(bot.approval_message().blocks)
    assert bot.approval_buttons() == {}
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.CANCELLED
    actions = [e.action.value for e in bot.service.reading.audit(AuditQuery(request_id=request_id))]
    assert "cancelled" in actions and "rejected" not in actions and "refused" not in actions


def test_a_request_nobody_could_approve_is_refused_inline_and_audited(
        make_bot: MakeBot) -> None:
    from bot.store.base import AuditQuery

    bot = make_bot(bot_approvers=REQUESTER)
    modal = bot.open_modal()

    body = json.loads(bot.submit(modal).body)

    assert body["response_action"] == "errors"
    assert "BOT_APPROVERS lists only you" in body["errors"]["confirm_hub_name"]
    assert bot.slack.messages(CHANNEL) == []  # no approval message waiting for nobody
    refused = [e for e in bot.service.reading.audit(AuditQuery(limit=10))
               if e.action.value == "refused"]
    assert [e.detail["reason"] for e in refused] == ["no_approver"]


def test_the_typed_name_is_case_insensitive_and_trimmed(bot: Bot) -> None:
    modal = bot.open_modal()

    response = bot.submit(modal, name=f"  {HUB.upper()} \n")

    assert json.loads(response.body)["response_action"] == "update"
    assert set(bot.approval_buttons()) == {"approve", "reject"}


def test_a_wrong_name_shows_one_hint_and_an_error_that_says_something_else(bot: Bot) -> None:
    modal = bot.open_modal()
    hint = next(b["hint"]["text"] for b in modal.view["blocks"]
                if b.get("block_id") == "confirm_hub_name")

    error = json.loads(bot.submit(modal, name="contoso-hbu").body)["errors"]["confirm_hub_name"]

    assert hint == f"Type {HUB} (upper or lower case, as you like)."
    assert error == f'"contoso-hbu" is not {HUB}.'
