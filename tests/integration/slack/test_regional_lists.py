"""The regional dialog's lists through the real Bolt app: a name in "Leave out" or "Hubs to
move" that is no eligible hub of the region refuses the submission, naming it with what it
most likely meant; nothing is recorded, the dialog comes back as it was typed, and the
refusal is audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.domain.model import AuditAction
from bot.store.base import AuditQuery
from failover_sandbox.slack_api import ModalView

from .conftest import CHANNEL, Bot, MakeBot
from .test_regional import SPEED, board, open_dialog, submit

BIG = 120  # past Slack's 100 options: "all eligible hubs" and a "Leave out" list


@pytest.fixture
def crowded(make_bot: MakeBot) -> Bot:
    """contoso-hub and 120 more hubs active in West Europe, and one with no paired region."""
    bot = make_bot(time_scale=SPEED)
    for i in range(BIG):
        bot.gateway.add_hub(f"rt-wus2-{i:03d}", "West Europe", 100)
    bot.gateway.add_hub("weu-local", "West Europe", 100, secondary="")
    return bot


def _shown(bot: Bot) -> ModalView:
    return list(bot.slack.views.values())[-1]


def _inputs(modal: ModalView) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in modal.view["blocks"] if b["type"] == "input"}


def _refusals(bot: Bot) -> list[dict[str, object]]:
    events = bot.service.reading.audit(AuditQuery(limit=100,
                                                  actions=frozenset({AuditAction.REFUSED})))
    return [e.detail for e in events]


def _no_batch(bot: Bot) -> None:
    with bot.service.uow() as uow:
        assert uow.batches.recent(5) == []
    assert bot.slack.messages(CHANNEL) == []


def test_a_typo_in_leave_out_refuses_with_a_did_you_mean_and_moves_nothing(
        crowded: Bot) -> None:
    bot = crowded
    modal = open_dialog(bot, "failover --region westeurope")

    response = submit(bot, modal, exclude="rt-wus2-000, rt-wus2-0O3",  # letter O, not zero
                      reason="INC-9 West US 2 is down")

    assert json.loads(response.body)["response_action"] == "update"  # the ack cannot read Azure
    _no_batch(bot)
    again = _shown(bot)
    top = again.view["blocks"][0]["text"]["text"]
    assert "`rt-wus2-0O3` matches no eligible hub (did you mean `rt-wus2-003`?)" in top
    assert "rt-wus2-000`" not in top and "Nothing was recorded" in top
    inputs = _inputs(again)  # as it was typed, to correct and submit again
    assert inputs["exclude"]["initial_value"] == "rt-wus2-000, rt-wus2-0O3"
    assert inputs["reason"]["initial_value"] == "INC-9 West US 2 is down"
    assert inputs["confirm_region"]["initial_value"] == "West Europe"
    assert again.view["submit"]["text"] == "Request failover"
    [refused] = _refusals(bot)
    assert refused["reason"] == "hub_not_found" and "rt-wus2-0O3" in str(refused["message"])

    submit(bot, again, exclude="rt-wus2-000, rt-wus2-003")

    assert f"of {BIG + 1 - 2} hubs is waiting for approval" in json.dumps(_shown(bot).view)
    assert f"Fail over {BIG + 1 - 2} hubs" in json.dumps(board(bot).blocks)


def test_a_hub_not_eligible_in_leave_out_is_named_with_why(crowded: Bot) -> None:
    bot = crowded
    submit(bot, open_dialog(bot, "failover --region westeurope"), exclude="weu-local")

    _no_batch(bot)
    top = _shown(bot).view["blocks"][0]["text"]["text"]
    assert "`weu-local` is not eligible (no paired region" in top


def test_a_chosen_hub_that_is_no_eligible_hub_refuses_and_is_shown_inert(
        make_bot: MakeBot) -> None:
    """A crafted submission: the multi-select's value is not one of its options."""
    bot = make_bot(time_scale=SPEED)
    bot.gateway.add_hub("weu-a", "West Europe", 100)
    evil = "<http://evil.example|click>"

    submit(bot, open_dialog(bot), hubs=["weu-a", evil])

    _no_batch(bot)
    received = json.dumps([c.params for c in bot.slack.calls()])
    assert "<http://evil.example" not in received
    top = _shown(bot).view["blocks"][0]["text"]["text"]
    assert "`&lt;http://evil.example|click&gt;` matches no eligible hub" in top
    hubs = _inputs(_shown(bot))["hubs"]
    assert [o["value"] for o in hubs["initial_options"]] == ["weu-a"]  # what was chosen
    assert evil in str(_refusals(bot)[0]["message"])  # the audit keeps what was sent


def test_a_leave_out_list_over_the_dialogs_limit_is_refused_inline(crowded: Bot) -> None:
    bot = crowded
    response = submit(bot, open_dialog(bot, "failover --region westeurope"),
                      exclude="rt-wus2-000, " * 300)

    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    assert "at most 3,000" in body["errors"]["exclude"]
    _no_batch(bot)
    assert [r["reason"] for r in _refusals(bot)] == ["input_too_long"]


def test_leaving_out_every_eligible_hub_asks_again(make_bot: MakeBot) -> None:
    bot = make_bot(time_scale=SPEED)
    for i in range(BIG):
        bot.gateway.add_hub(f"rt-wus2-{i:03d}", "West Europe", 100)
    everything = " ".join([*(f"rt-wus2-{i:03d}" for i in range(BIG)), "contoso-hub"])

    submit(bot, open_dialog(bot, "failover --region westeurope"), exclude=everything)

    _no_batch(bot)
    again = _shown(bot)
    assert "No hub is left to move" in again.view["blocks"][0]["text"]["text"]
    assert _inputs(again)["exclude"]["initial_value"] == everything
