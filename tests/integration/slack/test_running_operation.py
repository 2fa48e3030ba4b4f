"""Every answer about a hub with a running or open operation says so first: which operation,
who asked and approved, since when, the estimate, the request id, and what to do."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from .conftest import APPROVER, HUB, REQUESTER, Bot


def _modal_text(bot: Bot) -> str:
    return json.dumps(list(bot.slack.views.values())[-1].view["blocks"])


def _status_text(bot: Bot) -> str:
    bot.command(f"status {HUB}")
    body: dict[str, Any] = bot.slack.responses[-1].body
    return json.dumps(body.get("blocks") or [])


def _running(bot: Bot) -> str:
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)
    bot.clock.advance(timedelta(minutes=3))
    return request_id


def test_failback_during_a_failover_says_the_failover_is_running(bot: Bot) -> None:
    request_id = _running(bot)

    bot.open_modal(kind="failback")

    shown = _modal_text(bot)
    assert "Did you mean" not in shown and "home region" not in shown
    assert f"A failover of `{HUB}` is running" in shown
    assert request_id in shown
    assert f"Requested by <@{REQUESTER}>, approved by <@{APPROVER}>" in shown
    assert "running since <!date^" in shown and "(3m ago)" in shown
    assert "estimate 8m" in shown or "estimate " in shown
    assert f"/iothub status {HUB}" in shown
    assert "https://sandbox.slack.local/archives/" in shown  # the thread, via chat.getPermalink
    assert "can no longer be cancelled" in shown
    assert not any(b["type"] == "input" for b in list(bot.slack.views.values())[-1].view["blocks"])


def test_failover_again_during_the_failover_says_the_same(bot: Bot) -> None:
    request_id = _running(bot)

    bot.open_modal(kind="failover")

    shown = _modal_text(bot)
    assert f"A failover of `{HUB}` is running" in shown and request_id in shown


def test_a_request_awaiting_approval_is_shown_with_how_to_withdraw_it(bot: Bot) -> None:
    request_id = bot.request_and_submit()

    bot.open_modal(kind="failover")

    shown = _modal_text(bot)
    assert f"A failover of `{HUB}` is waiting for approval" in shown
    assert f"/iothub cancel {request_id}" in shown and "not approved yet" in shown
    assert "Approved by –" not in _status_text(bot)


def test_status_during_a_failover_shows_it_and_no_next_operation(bot: Bot) -> None:
    request_id = _running(bot)

    shown = _status_text(bot)

    assert shown.index(f"A failover of `{HUB}` is running") < shown.index("is active in")
    assert request_id in shown and "(3m ago)" in shown
    assert "https://sandbox.slack.local/archives/" in shown
    assert "Next operation" not in shown
    assert "Failback possible" not in shown


def test_status_of_a_hub_at_home_never_offers_a_failback(bot: Bot) -> None:
    shown = _status_text(bot)
    assert "Next operation" in shown and "failover to North Europe" in shown
    assert "Failback possible" not in shown


def test_cancel_of_a_running_failover_says_what_runs_and_that_it_is_too_late(bot: Bot) -> None:
    request_id = _running(bot)

    bot.command(f"cancel {request_id}")

    body: dict[str, Any] = bot.slack.responses[-1].body
    shown = json.dumps(body.get("blocks") or [])
    assert f"A failover of `{HUB}` is running" in shown
    assert "can no longer be cancelled" in shown and "Cancelled" not in shown


def test_status_of_a_hub_failing_over_outside_the_bot_says_so(bot: Bot) -> None:
    bot.gateway.set_hub_state(HUB, "FailingOver")

    shown = _status_text(bot)

    assert "Azure reports `contoso-hub` as `FailingOver`" in shown
    assert "did not start" in shown
    assert "Next operation" not in shown and "Failback possible" not in shown
