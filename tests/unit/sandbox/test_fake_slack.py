"""The fake Slack's view ids are unique across runs, as Slack's are: the bot keys a regional
batch by the id of the dialog it came from, and a sandbox may reopen its database."""

from __future__ import annotations

import json

from failover_sandbox.slack_api import SANDBOX_TOKEN, FakeSlack

VIEW = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]}


def _open(slack: FakeSlack) -> str:
    reply = slack.call("views.open", {"trigger_id": slack.new_trigger(),
                                      "view": json.dumps(VIEW)}, SANDBOX_TOKEN)
    assert reply.body["ok"], reply.body
    return str(reply.body["view"]["id"])


def test_view_ids_differ_between_runs_and_within_one() -> None:
    first_run, second_run = FakeSlack(), FakeSlack()

    ids = [_open(first_run), _open(first_run), _open(second_run)]

    assert len(set(ids)) == 3
    assert all(i.startswith("V") and i[1:].isalnum() for i in ids)
