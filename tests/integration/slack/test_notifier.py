"""Progress and completion land in the request's thread; the approval message shows the end."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from bot.domain.request import RequestStatus
from bot.notifications import Milestone, ProgressUpdate
from bot.slack.notifier import SlackNotifier

from .conftest import APPROVER, AUDIT_CHANNEL, CHANNEL, Bot, MakeBot


def _run_to_completion(bot: Bot, request_id: str) -> None:
    for _ in range(100):
        bot.clock.advance(timedelta(minutes=1))
        observation = bot.service.observing.observe(request_id)
        assert observation is not None
        if observation.report:
            bot.notifier.completed(observation.report)
            return
    raise AssertionError("the simulated failover never finished")


def _progress(bot: Bot, request_id: str, milestone: Milestone | None) -> None:
    request = bot.service.reading.get_request(request_id)
    assert request is not None
    bot.notifier.progress(ProgressUpdate(request, timedelta(minutes=3), timedelta(minutes=8),
                                         milestone))


def test_progress_edits_one_status_message_and_replies_on_milestones(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)
    parent = bot.approval_message()

    _progress(bot, request_id, None)  # before "accepted" was said: no message yet
    _progress(bot, request_id, Milestone.STARTED)
    _progress(bot, request_id, None)
    _progress(bot, request_id, Milestone.SLOW)

    thread = bot.slack.thread(CHANNEL, parent.ts)
    status = thread[0]
    # "Azure accepted" is the status message itself: nothing above it, later replies below.
    assert status.edits == 2 and status.text.startswith("Azure accepted")
    assert "Running for 3m" in status.text
    assert [m.text.split()[0] for m in thread[1:]] == [":turtle:"]
    stored = bot.service.reading.get_request(request_id)
    assert stored is not None and stored.status_message_ts == status.ts


def test_completion_reports_region_time_quota_and_endpoint(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    _run_to_completion(bot, request_id)

    parent = bot.approval_message()
    assert "Done: active in *North Europe*" in json.dumps(parent.blocks)
    final = bot.slack.thread(CHANNEL, parent.ts)[-1]
    shown = json.dumps(final.blocks)
    assert final.reply_broadcast
    assert "succeeded" in shown and "North Europe" in shown
    assert "left today" in shown and "Failback possible" in shown
    assert "New Event Hub-compatible endpoint" in shown
    request = bot.service.reading.get_request(request_id)
    assert request is not None and request.status is RequestStatus.SUCCEEDED


def test_a_failure_quotes_azure(bot: Bot) -> None:
    bot.gateway.inject(fail_next_with=("InternalServerError", "The hub could not be moved."))
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    _run_to_completion(bot, request_id)

    final = bot.slack.thread(CHANNEL, bot.approval_message().ts)[-1]
    assert "The hub could not be moved." in json.dumps(final.blocks)


def test_the_end_is_mirrored_to_the_audit_channel(make_bot: MakeBot) -> None:
    bot = make_bot(bot_audit_channel=AUDIT_CHANNEL)
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)

    _run_to_completion(bot, request_id)

    assert any("succeeded" in m.text for m in bot.slack.messages(AUDIT_CHANNEL))


def test_concurrent_announcements_of_a_new_request_post_one_message(bot: Bot) -> None:
    """The listener and the poller's sweep may announce the same new request at once."""
    request_id = bot.request_and_submit()
    posted_before = len(bot.slack.calls("chat.postMessage"))
    fresh = bot.service.reading.get_request(request_id)
    assert fresh is not None
    unannounced = fresh.evolve(message_ts=None)
    other = SlackNotifier(bot.notifier._client, bot.service.notices)  # a notifier that never posted
    barrier = threading.Barrier(6)

    def announce() -> None:
        barrier.wait()
        other.request_changed(unannounced)

    threads = [threading.Thread(target=announce) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bot.slack.calls("chat.postMessage")) == posted_before + 1


def test_what_the_listeners_show_is_not_announced_again_by_the_sweep(bot: Bot) -> None:
    request_id = bot.request_and_submit()
    bot.click("reject", request_id, user=APPROVER)
    with bot.service.uow() as uow:
        assert [r.id for r in uow.announcements.unnotified()] == []
