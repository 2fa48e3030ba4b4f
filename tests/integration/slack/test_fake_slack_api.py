"""The fake Slack Web API behaves like Slack where the bot depends on it."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.slack.client import make_web_client
from failover_sandbox.slack_api import FakeSlackServer

from .conftest import CHANNEL, REQUESTER


@pytest.fixture
def client(fake_slack: FakeSlackServer) -> WebClient:
    return WebClient(token=fake_slack.slack.bot_token, base_url=fake_slack.api_url)


def test_a_wrong_token_is_refused(fake_slack: FakeSlackServer) -> None:
    with pytest.raises(SlackApiError) as raised:
        WebClient(token="xoxb-wrong", base_url=fake_slack.api_url).auth_test()
    assert raised.value.response["error"] == "invalid_auth"


def test_messages_threads_and_edits(fake_slack: FakeSlackServer, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent)["ts"]
    client.chat_update(channel=CHANNEL, ts=reply, text="edited")

    slack = fake_slack.slack
    assert [m.text for m in slack.messages(CHANNEL, top_level=True)] == ["parent"]
    assert [(m.text, m.edits) for m in slack.thread(CHANNEL, parent)] == [("edited", 1)]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.chat_postMessage(channel="C0NOWHERE", text="x")
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel=CHANNEL, ts="1.000000", text="x")


def test_invalid_blocks_are_rejected(client: WebClient) -> None:
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_postMessage(channel=CHANNEL, text="x", blocks=[{"type": "section"}])


def test_a_trigger_id_works_once(fake_slack: FakeSlackServer, client: WebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]}
    trigger = fake_slack.slack.new_trigger()
    opened = client.views_open(trigger_id=trigger, view=view)["view"]
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        client.views_open(trigger_id=trigger, view=view)
    client.views_update(view_id=opened["id"], view={**view, "title": {
        "type": "plain_text", "text": "Updated"}}, hash=opened["hash"])
    with pytest.raises(SlackApiError, match="hash_conflict"):
        client.views_update(view_id=opened["id"], view=view, hash=opened["hash"])
    assert fake_slack.slack.views[opened["id"]].view["title"]["text"] == "Updated"


def test_rate_limits_are_retried_after_the_servers_delay(fake_slack: FakeSlackServer) -> None:
    waits: list[float] = []
    client = make_web_client(fake_slack.slack.bot_token, fake_slack.api_url, sleep=waits.append)
    fake_slack.slack.fail_next("chat.postMessage", "ratelimited", retry_after=7, times=2)

    client.chat_postMessage(channel=CHANNEL, text="after the storm")

    assert [round(w) for w in waits] == [7, 7]
    assert [c.error for c in fake_slack.slack.calls("chat.postMessage")] == [
        "ratelimited", "ratelimited", None]
    assert fake_slack.slack.messages(CHANNEL)[0].text == "after the storm"


def test_rate_limits_give_up_after_a_few_tries(fake_slack: FakeSlackServer) -> None:
    client = make_web_client(fake_slack.slack.bot_token, fake_slack.api_url,
                             sleep=lambda _: None)
    fake_slack.slack.fail_next("chat.update", "ratelimited", times=10)
    with pytest.raises(SlackApiError, match="ratelimited"):
        client.chat_update(channel=CHANNEL, ts="1.0", text="x")


def test_response_urls_and_group_members(fake_slack: FakeSlackServer, client: WebClient) -> None:
    WebhookClient(fake_slack.response_url("abc")).send(text="only you", response_type="ephemeral")
    assert fake_slack.slack.responses[0].token == "abc"
    assert fake_slack.slack.responses[0].body["text"] == "only you"
    assert client.usergroups_users_list(usergroup="S0ONCALL")["users"] == ["U0BOB"]
    assert client.users_info(user="U0BOB")["user"]["name"] == "bob"
    assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "incident"
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        client.usergroups_users_list(usergroup="S0NONE")


def test_views_publish_keeps_each_users_home_tab(fake_slack: FakeSlackServer,
                                                 client: WebClient) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "fleet"}}
    first = client.views_publish(user_id=REQUESTER, view={"type": "home", "blocks": [section]})
    again = client.views_publish(user_id=REQUESTER, view={"type": "home",
                                                         "blocks": [section, section]})
    assert first["view"]["id"] == again["view"]["id"]  # one Home tab per user, replaced
    assert len(fake_slack.slack.home_views[REQUESTER]["blocks"]) == 2
    with pytest.raises(SlackApiError, match="invalid_arguments"):  # a modal is no Home tab
        client.views_publish(user_id=REQUESTER, view={
            "type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": [section]})
    with pytest.raises(SlackApiError, match="invalid_arguments"):  # Slack's 100 blocks
        client.views_publish(user_id=REQUESTER, view={"type": "home", "blocks": [section] * 101})
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.views_publish(user_id="U0NOBODY", view={"type": "home", "blocks": [section]})
