"""The read-only commands, help, cancel and failures, as the user sees them (ephemeral)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.service import FailoverService
from bot.store.base import AuditQuery
from bot.store.sql import unit_of_work_factory

from .conftest import APPROVER, CHANNEL, HUB, REQUESTER, Bot


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _last_response(bot: Bot) -> dict:
    assert bot.slack.responses, "nothing was posted to the response_url"
    return bot.slack.responses[-1].body


def _shown(body: dict) -> str:
    return _dumps(body.get("blocks") or []) + body.get("text", "")


def test_help_and_unknown_text_get_usage_in_the_ack(bot: Bot) -> None:
    for text in ("", "help", "frobnicate contoso-hub", "failover", "failover bad_name!"):
        response = bot.command(text)
        body = json.loads(response.body)
        assert response.status == 200
        assert body["response_type"] == "ephemeral"
        assert "/iothub failover <hub>" in _dumps(body["blocks"])
    assert bot.slack.calls("views.open") == []


def test_status_shows_the_active_region_and_quota(bot: Bot) -> None:
    bot.command(f"status {HUB}")

    body = _last_response(bot)
    assert body["response_type"] == "ephemeral"
    shown = _shown(body)
    assert "West Europe" in shown and "2 failovers" in shown and "1,200" in shown


def test_status_of_an_unknown_hub_says_so(bot: Bot) -> None:
    bot.command("status no-such-hub")
    assert "No IoT Hub called `no-such-hub`" in _shown(_last_response(bot))


def test_list_shows_hubs_with_their_active_region(bot: Bot) -> None:
    bot.gateway.add_hub("fabrikam-hub", "eastus", 10)

    bot.command("list")

    shown = _shown(_last_response(bot))
    assert "`contoso-hub` – active in *West Europe*" in shown
    assert "`fabrikam-hub` – active in *East US*" in shown
    assert "Page 1 of 1" in shown


def test_audit_lists_events_newest_first_with_filters(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    bot.command(f"audit {HUB} --user <@{APPROVER}|bob> --since 1h")
    lines = [b for b in _last_response(bot)["blocks"] if b["type"] == "context"]
    shown = _dumps(lines)
    assert "*approved failover*" in shown
    assert "*requested" not in shown  # by the requester, filtered out

    bot.command(f"audit {HUB}")
    shown = _dumps(_last_response(bot)["blocks"])
    assert shown.index("*started failover*") < shown.index("*approved failover*") \
        < shown.index("*requested failover*")


def test_audit_with_a_bad_option_gets_usage(bot: Bot) -> None:
    body = json.loads(bot.command("audit --since yesterday").body)
    assert "--since" in _dumps(body["blocks"])


def test_malformed_commands_are_refusals_in_the_audit_log(bot: Bot) -> None:
    bot.command("failover bad_name!")
    bot.command("help")  # asking for help is not a refusal
    events = bot.service.reading.audit(AuditQuery(user=REQUESTER))
    assert [(e.action.value, e.detail["reason"]) for e in events] == [
        ("refused", "malformed_command")]
    assert "bad_name!" in events[0].detail["message"]


def test_the_requester_can_cancel_and_the_message_says_so(bot: Bot) -> None:
    request_id = bot.request_and_submit()

    bot.command(f"cancel {request_id}", user=REQUESTER)

    assert "Cancelled" in _shown(_last_response(bot))
    assert bot.approval_buttons() == {}
    assert f"Cancelled by <@{REQUESTER}>" in _dumps(bot.approval_message().blocks)


def test_failover_shortcut_command_opens_the_modal(bot: Bot) -> None:
    bot.command(HUB, command="/failover")
    modal = list(bot.slack.views.values())[-1]
    assert any(b["type"] == "input" for b in modal.view["blocks"])


def test_an_unreachable_database_gets_a_clear_answer(bot: Bot) -> None:
    down = FailoverService(uow=unit_of_work_factory("postgresql://nobody@127.0.0.1:9/none"),
                           gateway=bot.gateway, clock=bot.clock)
    bot.service.uow = down.uow

    bot.command(f"status {HUB}")
    assert "could not reach the audit database; nothing was started" in \
        _shown(_last_response(bot))

    modal = bot.open_modal()
    assert "could not reach the audit database" in _dumps(modal.view["blocks"])
    assert "Traceback" not in _dumps(bot.slack.snapshot())
    assert bot.gateway.calls["start_failover"] == 0
    assert bot.slack.messages(CHANNEL) == []


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80) | st.sampled_from([
    "audit --page 99999", "list 99999", "status zz", "failover zz",
    "audit --since 9999999d", "audit <@U0BOB>"]))
def test_any_command_text_gets_a_200_and_an_answer(bot: Bot, text: str) -> None:
    answered = len(bot.slack.responses) + len(bot.slack.views)
    response = bot.command(text)
    assert response.status == 200
    body = json.loads(response.body) if response.body else {}
    assert body or len(bot.slack.responses) + len(bot.slack.views) > answered


def test_audit_in_slack_shows_words_and_real_mentions_not_codes(bot: Bot) -> None:
    bot.request_and_submit()
    bot.open_modal()  # refused: the hub holds a request (audited as a refusal)

    bot.command(f"audit {HUB}")

    shown = _shown(_last_response(bot))
    assert "is waiting for approval" in shown
    assert f"requested by <@{REQUESTER}>" in shown  # a mention Slack renders as a name
    assert "&lt;@" not in shown and "hub_locked" not in shown


def test_status_of_a_mistyped_hub_suggests_the_closest_names(bot: Bot) -> None:
    bot.gateway.add_hub("contoso-prod-weu", "westeurope", 10)
    bot.gateway.add_hub("fabrikam-hub", "eastus", 10)

    bot.command("status contoso-prod-wue")

    shown = _shown(_last_response(bot))
    assert "No IoT Hub called `contoso-prod-wue`" in shown
    assert "Did you mean `contoso-prod-weu`?" in shown and "fabrikam" not in shown
