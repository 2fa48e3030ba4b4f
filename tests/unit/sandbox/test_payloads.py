"""The sandbox builds Slack's interaction payloads as Slack does: a modal's state for text,
multi-selects and checkboxes, and a click on a button in a thread reply."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from failover_sandbox import payloads


def _option(value: str) -> dict[str, object]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


HUBS = {"type": "multi_static_select", "action_id": "hubs",
        "options": [_option("hub-a"), _option("hub-b"), _option("hub-c")],
        "initial_options": [_option("hub-a"), _option("hub-b")]}
GROUPED = {"type": "multi_static_select", "action_id": "hubs",
           "option_groups": [{"label": {"type": "plain_text", "text": "Eligible"},
                              "options": [_option("hub-a"), _option("hub-b")]},
                             {"label": {"type": "plain_text", "text": "Not eligible"},
                              "options": [_option("hub-c")]}]}
ALL = {"type": "checkboxes", "action_id": "all",
       "options": [{**_option("all"), "description": {"type": "mrkdwn", "text": "every one"}}]}
VIEW = {"type": "modal", "callback_id": "region_confirm", "blocks": [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*West Europe*"}},
    {"type": "input", "block_id": "hubs", "element": HUBS,
     "label": {"type": "plain_text", "text": "Hubs"}},
    {"type": "input", "block_id": "all", "element": ALL, "optional": True,
     "label": {"type": "plain_text", "text": "All"}},
    {"type": "input", "block_id": "confirm_region",
     "element": {"type": "plain_text_input", "action_id": "confirm_region"},
     "label": {"type": "plain_text", "text": "Region"}},
    {"type": "input", "block_id": "reason",
     "element": {"type": "plain_text_input", "action_id": "reason", "initial_value": "INC-1"},
     "label": {"type": "plain_text", "text": "Reason"}},
]}


def test_picked_options_come_back_whole_in_the_elements_order() -> None:
    state = payloads.element_state(HUBS, ["hub-c", "hub-a", "not-offered"])

    assert state == {"type": "multi_static_select",
                     "selected_options": [_option("hub-a"), _option("hub-c")]}


def test_an_untouched_multi_select_reports_its_initial_options() -> None:
    assert payloads.element_state(HUBS, None, touched=False)["selected_options"] == [
        _option("hub-a"), _option("hub-b")]


def test_emptying_a_multi_select_reports_no_options() -> None:
    assert payloads.element_state(HUBS, [])["selected_options"] == []


def test_options_in_groups_can_be_picked() -> None:
    picked = payloads.element_state(GROUPED, ["hub-c"])["selected_options"]

    assert picked == [_option("hub-c")]


def test_checkboxes_report_their_checked_options_with_descriptions() -> None:
    assert payloads.element_state(ALL, ["all"]) == {
        "type": "checkboxes", "selected_options": ALL["options"]}
    assert payloads.element_state(ALL, []) == {"type": "checkboxes", "selected_options": []}


def test_a_static_select_reports_one_option_or_none() -> None:
    one = {**HUBS, "type": "static_select"}
    del one["initial_options"]

    assert payloads.element_state(one, ["hub-b"])["selected_option"] == _option("hub-b")
    assert payloads.element_state(one, [])["selected_option"] is None


def test_the_view_state_has_every_input_touched_or_not() -> None:
    view = payloads.view_with_state(VIEW, "h1", {
        "confirm_region": {"confirm_region": "West Europe"}, "hubs": {"hubs": ["hub-b"]}})

    assert view["state"]["values"] == {
        "hubs": {"hubs": {"type": "multi_static_select", "selected_options": [_option("hub-b")]}},
        "all": {"all": {"type": "checkboxes", "selected_options": []}},
        "confirm_region": {"confirm_region": {"type": "plain_text_input",
                                              "value": "West Europe"}},
        "reason": {"reason": {"type": "plain_text_input", "value": "INC-1"}},
    }
    assert view["hash"] == "h1"


def test_an_emptied_text_input_is_null() -> None:
    view = payloads.view_with_state(VIEW, "h1", {"reason": {"reason": ""}})

    assert view["state"]["values"]["reason"]["reason"]["value"] is None


def _clicked(message: dict[str, object]) -> dict[str, object]:
    body = payloads.button_click(
        user_id="U1", user_name="bob", team_id="T1", channel_id="C1", channel_name="incident",
        message=message, action={"type": "button", "action_id": "retry_failed",
                                 "block_id": "failure", "value": "fb-1"},
        trigger_id="t", response_url="https://x/response/1")
    return json.loads(parse_qs(body)["payload"][0])  # type: ignore[no-any-return]


def test_a_click_in_a_thread_reply_names_the_thread() -> None:
    payload = _clicked({"ts": "2.000002", "thread_ts": "1.000001", "user": "U0BOT",
                        "text": "failed", "blocks": []})

    assert payload["container"] == {"type": "message", "message_ts": "2.000002",
                                    "channel_id": "C1", "is_ephemeral": False,
                                    "thread_ts": "1.000001"}
    assert payload["message"]["thread_ts"] == "1.000001"  # type: ignore[index]


def test_a_click_in_a_channel_message_has_no_thread() -> None:
    payload = _clicked({"ts": "1.000001", "thread_ts": None, "user": "U0BOT", "text": "board"})

    assert "thread_ts" not in payload["container"]  # type: ignore[operator]
    assert "thread_ts" not in payload["message"]  # type: ignore[operator]


def test_command_text_is_escaped_as_slack_escapes_it() -> None:
    # should_escape (manifest.yml): members and channels become links, &, < and > entities.
    text = payloads.escape_command_text(
        "audit --user @Alice in #incident, not @nobody & <b>", users={"alice": "U0ALICE"},
        channels={"incident": "C0INCIDENT"})
    assert text == ("audit --user <@U0ALICE|alice> in <#C0INCIDENT|incident>, not @nobody "
                    "&amp; &lt;b&gt;")
