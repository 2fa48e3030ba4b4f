"""Sandbox time is one clock: estimates, progress and the failback cool-down run at --speed,
and the dialog and status say so; limits looser than Azure's are allowed only with a warning."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from bot.bootstrap import bootstrap
from bot.config import load_settings
from bot.domain.clock import FakeClock
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

from .conftest import CHANNEL, HUB, Bot, MakeBot

SPEED = 60.0


def _modal(bot: Bot, kind: str) -> tuple[str, list[dict[str, Any]]]:
    modal = bot.open_modal(kind=kind)
    return json.dumps(modal.view["blocks"], ensure_ascii=False), modal.view["blocks"]


def test_the_dialog_shows_a_sandbox_estimate_and_says_time_is_scaled(make_bot: MakeBot) -> None:
    bot = make_bot(time_scale=SPEED)

    shown, _ = _modal(bot, "failover")

    assert "sandbox: 60× faster than Azure" in shown
    assert "*Estimated duration*\\n8s" in shown  # Azure's ~8 min for a small hub, / 60


def test_the_drill_dialog_says_the_cool_down_on_the_sandbox_clock(make_bot: MakeBot) -> None:
    bot = make_bot(time_scale=SPEED, bot_drill_hubs=HUB)

    shown, _ = _modal(bot, "drill")

    assert "What the drill will do" in shown
    assert "wait for Azure's cool-down (1m);" in shown  # Azure's hour / 60, as the failback's


def test_a_newcomer_fails_over_and_back_within_minutes(make_bot: MakeBot) -> None:
    bot = make_bot(time_scale=SPEED, bot_approvers="")
    bot.service.poll_interval = timedelta(seconds=1)  # the sandbox polls every 2 s
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)
    bot.run_until_done(request_id, poll_every=timedelta(seconds=1), rounds=600)

    thread = bot.slack.thread(CHANNEL, bot.approval_message().ts)
    assert thread[0].text.startswith("Azure accepted") and "ran for" in thread[0].text
    edits = [str(c.params.get("text")) for c in bot.slack.calls("chat.update")]
    assert any("(estimate 8s)" in t for t in edits), edits  # progress on the same clock
    took = json.dumps(thread[-1].blocks)
    assert "*Took*\\n" in took and "*Took*\\n1m" not in took  # seconds, on the sandbox clock
    shown, _ = _modal(bot, "failback")
    assert "A failback must wait 1m after a failover" in shown  # the cool-down, scaled

    bot.clock.advance(timedelta(seconds=61))
    bot.command(f"status {HUB}")
    status = json.dumps(bot.slack.responses[-1].body["blocks"], ensure_ascii=False)
    assert "*Failback possible*\\nnow" in status and "sandbox: 60× faster" in status
    shown, blocks = _modal(bot, "failback")
    assert any(b["type"] == "input" for b in blocks), shown


def test_looser_limits_than_azure_start_with_a_warning(caplog: pytest.LogCaptureFixture,
                                                       tmp_path: Any) -> None:
    settings = load_settings(bot_failback_cooldown="10m", bot_daily_failover_limit=5,
                             database_url=f"sqlite:///{tmp_path / 'w.db'}")
    with caplog.at_level(logging.WARNING, logger="bot.bootstrap"):
        bootstrap(settings, clock=FakeClock(), gateway=SimulatedIotHubGateway(FakeClock()))
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "BOT_FAILBACK_COOLDOWN=10m is shorter than Azure's hour" in warned
    assert "BOT_DAILY_FAILOVER_LIMIT=5 is above Azure's 2 a day" in warned
    assert "BOT_DAILY_FAILBACK_LIMIT" not in warned
