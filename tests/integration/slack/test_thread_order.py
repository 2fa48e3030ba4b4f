"""The request's thread reads in the order things happened: one live status message (the
"Azure accepted" reply, edited in place), later milestones below it, one completion."""

from __future__ import annotations

import json
from datetime import timedelta

from .conftest import CHANNEL, Bot


def _thread(bot: Bot) -> list[str]:
    parent = bot.approval_message()
    return [m.text + json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, parent.ts)]


def test_the_thread_reads_accepted_then_slow_then_one_completion(bot: Bot) -> None:
    bot.gateway.speed = 1 / 3  # Azure takes three times the estimate: "slow" is due on the way
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    bot.run_until_done(request_id, poll_every=timedelta(seconds=30), rounds=400)

    thread = _thread(bot)
    assert len(thread) == 3, thread
    accepted, slow, done = thread
    assert accepted.startswith("Azure accepted the failover") and "ran for" in accepted
    assert "succeeded" not in accepted  # no end summary above later replies
    assert slow.startswith(":turtle:")
    assert "succeeded" in done
    assert sum("succeeded" in m for m in thread) == 1
    status = bot.slack.thread(CHANNEL, bot.approval_message().ts)[0]
    assert status.edits >= 2  # live: running for …, then the record of what it was
    stored = bot.service.reading.get_request(request_id)
    assert stored is not None and stored.status_message_ts == status.ts


def test_a_fast_operation_gets_accepted_then_its_completion(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    bot.run_until_done(request_id, poll_every=timedelta(seconds=30), rounds=400)

    thread = _thread(bot)
    assert [t.split()[0] for t in thread] == ["Azure", "The"], thread
    assert "succeeded" in thread[1] and "succeeded" not in thread[0]
