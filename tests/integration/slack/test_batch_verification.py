"""A regional batch's hubs verified on its board (issue #22), through the real Bolt app: each
moved hub's line says what Azure Monitor's minutes came to, the totals count the verdicts
("6 moved · 5 verified · 1 devices not back"), no verdict is replied hub by hub, and the
closing reply waits for the last verdict. The simulated fleet serves the metrics (its hubs'
devices drop during a move and reconnect; one comes back only to 40 %), on a FakeClock at
Azure's own speed."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from bot.poller import Poller, RateLimitedNotifier
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.client import make_web_client
from failover_sandbox.slack_api import Message

from .conftest import APPROVER, CHANNEL, Bot, MakeBot
from .test_regional import board, buttons, open_dialog, shown, submit

STEP = timedelta(seconds=15)
HUBS = ["weu-a", "weu-b", "weu-c", "weu-d", "weu-e"]
DROPPED = "weu-f"  # its devices come back only to 40 %
SIX = [*HUBS, DROPPED]


@pytest.fixture
def bot(make_bot: MakeBot) -> Bot:
    bot = make_bot(verify=True)  # the default rules: 95 % of the devices within 15 minutes
    for name in HUBS:
        bot.gateway.add_hub(name, "West Europe", 2_000)
    bot.gateway.add_hub(DROPPED, "West Europe", 2_000, recovers_to=0.4)
    return bot


@pytest.fixture
def run(bot: Bot) -> Iterator[Callable[[Callable[[], bool]], None]]:
    """The real poller (its board keeper and its looks at the metrics, telling verdicts as the
    deployment does), round after round on the fake clock, until ``done()``."""
    client = make_web_client(bot.slack.bot_token, bot.server.api_url, sleep=lambda _: None)
    outbox = RateLimitedNotifier(bot.notifier, bot.clock)
    poller = Poller(bot.service, bot.service.uow, outbox, bot.clock, owner_id="test",
                    poll_interval=STEP, lease_ttl=timedelta(minutes=5), max_workers=2,
                    rng=random.Random(1), boards=SlackBoardNotifier(client, bot.service.boards),
                    after_move=bot.notifier)

    def run_until(done: Callable[[], bool]) -> None:
        for _ in range(400):  # 100 minutes
            poller.run_once()
            outbox.flush()
            if done():
                return
            bot.clock.advance(STEP)
        raise AssertionError(f"not reached: {board_text(board(bot))}")

    yield run_until
    poller.close()


def board_text(message: Message) -> str:
    """The board's sections as a person reads them, one line each."""
    return "\n".join(b["text"]["text"] for b in message.blocks
                     if b["type"] == "section" and "text" in b)


def hub_lines(message: Message) -> dict[str, str]:
    return {line.split("`")[1]: line for line in board_text(message).split("\n")
            if line.count("`") >= 2 and line.split("`")[1] in SIX}


def test_a_batch_shows_each_hubs_verdict_and_their_totals_on_its_board(
        bot: Bot, run: Callable[[Callable[[], bool]], None]) -> None:
    submit(bot, open_dialog(bot), hubs=SIX)
    batch_id = buttons(board(bot))["approve"]
    ts = board(bot).ts
    bot.click("approve", batch_id, user=APPROVER)

    # Every hub has moved: the board says so and that they are being verified.
    run(lambda: "6 of 6 done" in board_text(board(bot)))
    moved = board(bot)  # the fake Slack edits this message in place: read it now
    assert "6 moved · 0 verified · 6 verifying" in board_text(moved)
    assert all(line.endswith(" · :eyes: verifying…") for line in hub_lines(moved).values())
    assert "being verified from Azure Monitor" in shown(moved.blocks)
    assert f"/iothub audit --batch {batch_id}" in shown(moved.blocks)
    assert bot.slack.thread(CHANNEL, ts) == []  # not finished while verdicts are to come

    run(lambda: "6 verifying" not in board_text(board(bot))
        and bool(bot.slack.thread(CHANNEL, ts)))

    final = board(bot)
    text = board_text(final)
    assert final.ts == ts  # the one message, edited in place
    assert "*6 of 6 done*\n6 moved · 5 verified · 1 devices not back" in text
    lines = hub_lines(final)
    for hub in HUBS:
        assert re.search(r"done: active in \*North Europe\* after .* · :white_check_mark: "
                         r"verified (9[5-9]|1\d\d) %$", lines[hub]), lines[hub]
    assert re.search(r" · :warning: devices not back (39|40) %$", lines[DROPPED]), lines[DROPPED]
    # People look at the hub whose devices did not come back before the verified ones.
    assert next(iter(lines)) == DROPPED
    assert "Finished" in shown(final.blocks)
    # No verdict is replied hub by hub: the one reply is the closing one, with the verdicts.
    closing = bot.slack.thread(CHANNEL, ts)
    assert len(closing) == 1 and closing[0].reply_broadcast
    assert "finished — 6 of 6 done; 6 moved · 5 verified · 1 devices not back." \
        in closing[0].text
