"""The front's Bolt app (``bot.roles.front``): it acks and hands every lazy half over by
name; it holds no service, and cannot run a lazy half itself (a broken hand-over is loud)."""

from __future__ import annotations

import json
import logging

import pytest
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.listener.thread_runner import ThreadListenerRunner

from bot.slack import lazy
from bot.slack.front_app import create_front_app
from bot.slack.guard import own_identity
from bot.slack.lazy import (
    ANSWER,
    DECIDE,
    OPEN_DIALOG,
    SUBMIT,
    LazyHalfInFront,
    LazyJob,
    lazy_half,
)
from bot.slack.messages import APPROVE

from .conftest import Bot, signed


class Front:
    def __init__(self, bot: Bot) -> None:
        self.jobs: list[LazyJob] = []
        self.app = create_front_app(signing_secret=bot.settings.signing_secret,
                                    access=bot.settings.access, client=bot.app.client,
                                    workspace=own_identity(bot.app.client),
                                    hand_over=self.jobs.append)

    def dispatch(self, body: str) -> BoltResponse:
        return self.app.dispatch(BoltRequest(body=body, headers=signed(body)))


def test_each_lazy_half_with_work_is_handed_over_by_name_and_none_runs_here(bot: Bot) -> None:
    request_id = bot.request_and_submit()  # through the full app: a message to click
    modal = bot.open_modal()  # and a dialog to submit
    views, answers = len(bot.slack.views), len(bot.slack.responses)
    front = Front(bot)
    assert front.dispatch(bot.command_body("failover contoso-hub")).status == 200
    assert front.dispatch(bot.command_body("status contoso-hub")).status == 200
    submitted = front.dispatch(bot.submission_body(modal, name="contoso-hub", reason="INC-1"))
    assert submitted.status == 200 and json.loads(submitted.body)["response_action"] == "update"
    assert front.dispatch(bot.click_body(APPROVE, request_id)).status == 200

    # A failover needs its dialog and a status its answer, not both halves each.
    assert [job.function for job in front.jobs] == [OPEN_DIALOG, ANSWER, SUBMIT, DECIDE]
    assert [job.urgent for job in front.jobs] == [True, False, False, False]
    # The front opened no dialog and answered nothing through response_url.
    assert (len(bot.slack.views), len(bot.slack.responses)) == (views, answers)


def test_help_hands_over_nothing_and_a_usage_error_only_its_audit(bot: Bot) -> None:
    front = Front(bot)
    assert front.dispatch(bot.command_body("help")).status == 200
    assert front.jobs == []  # answered in the ack, nothing else to do
    assert front.dispatch(bot.command_body("explode contoso-hub")).status == 200
    assert [job.function for job in front.jobs] == [ANSWER]  # the refusal is audited there


def test_a_hand_over_that_stopped_working_fails_loudly(
        bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    front = Front(bot)
    # As if Bolt renamed the step the front overrides: Bolt's own route is taken instead.
    monkeypatch.setattr(lazy.HandOverListenerRunner, "_start_lazy_function",
                        ThreadListenerRunner._start_lazy_function)
    with caplog.at_level(logging.ERROR):
        response = front.dispatch(bot.command_body("status contoso-hub"))
    assert response.status == 500
    assert front.jobs == []
    assert any("LazyHalfInFront" in record.getMessage() for record in caplog.records)
    assert not bot.slack.responses  # nothing answered from the front


def test_a_half_without_its_dependencies_refuses_to_run() -> None:
    half = lazy_half(ANSWER, None, lambda deps: lambda: None)
    assert half.__name__ == ANSWER
    with pytest.raises(LazyHalfInFront):
        half(command={})
