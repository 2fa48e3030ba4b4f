"""Regional-outage mode through the real Bolt app: `/iothub failover --region`, its dialog,
one approval message that becomes the board, the poller moving every hub (one POST each),
failures replied in the thread with Retry failed, Stop the rest, and a region past 100 hubs."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltResponse

from bot.domain.model import AuditAction
from bot.poller import Poller, RateLimitedNotifier
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.client import make_web_client
from bot.store.base import AuditQuery
from failover_sandbox.fleet.simulated import SIM_BOT_CALLER
from failover_sandbox.slack_api import Message, ModalView

from .conftest import APPROVER, BYSTANDER, CHANNEL, HUB, REQUESTER, Bot, MakeBot

WEU_HUBS = [("weu-a", 1_000, None), ("weu-b", 400_000, None), ("weu-c", 50_000, 1),
            ("weu-d", 2_000, None), ("weu-e", 90_000, 2), ("weu-f", 10_000, None)]
SIX = [name for name, _, _ in WEU_HUBS]
SPEED = 60  # the sandbox's --speed: Azure's durations and the cool-down, sixty times faster


@pytest.fixture
def bot(make_bot: MakeBot) -> Bot:
    """contoso-hub (from the Bot) and six more hubs active in West Europe; one with no
    paired region; one from North Europe failed over into West Europe two hours ago."""
    bot = make_bot(time_scale=SPEED)
    for name, devices, priority in WEU_HUBS:
        bot.gateway.add_hub(name, "West Europe", devices, priority=priority)
    bot.gateway.add_hub("weu-local", "West Europe", 100, secondary="")
    bot.gateway.add_hub("neu-b", "North Europe", 1_000)
    bot.gateway.outside_failover("neu-b", caller="oncall@contoso.com", ago=timedelta(hours=2))
    return bot


def open_dialog(bot: Bot, text: str = "failover --region West Europe", *,
                user: str = REQUESTER) -> ModalView:
    bot.command(text, user=user)
    return list(bot.slack.views.values())[-1]


def submit(bot: Bot, modal: ModalView, *, hubs: list[str] | None = None,
           exclude: str | None = None, typed: str = "West Europe",
           reason: str = "INC-77 West Europe is down", user: str = REQUESTER) -> BoltResponse:
    values: dict[str, dict[str, dict[str, object]]] = {
        "confirm_region": {"confirm_region": {"type": "plain_text_input", "value": typed}},
        "reason": {"reason": {"type": "plain_text_input", "value": reason}},
    }
    if exclude is None:
        chosen = hubs if hubs is not None else SIX
        values["hubs"] = {"hubs": {"type": "multi_static_select", "selected_options": [
            {"text": {"type": "plain_text", "text": h}, "value": h} for h in chosen]}}
    else:
        values["hubs"] = {"hubs": {"type": "checkboxes", "selected_options": [
            {"text": {"type": "plain_text", "text": "All"}, "value": "all_eligible"}]}}
        values["exclude"] = {"exclude": {"type": "plain_text_input", "value": exclude}}
    payload = {"type": "view_submission", "team": {"id": bot.slack.team_id},
               "user": {"id": user}, "api_app_id": "A0BOT",
               "trigger_id": bot.slack.new_trigger(),
               "view": {**modal.view, "id": modal.id, "hash": modal.hash,
                        "state": {"values": values}}}
    return bot.dispatch(urlencode({"payload": json.dumps(payload)}))


def board(bot: Bot) -> Message:
    """The batch's one message (its approval message, then its board)."""
    boards = [m for m in bot.slack.messages(CHANNEL, top_level=True)
              if "fb-" in json.dumps(m.blocks)]
    assert boards, [m.text for m in bot.slack.messages(CHANNEL, top_level=True)]
    return boards[0]


def buttons(message: Message) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in message.blocks if b["type"] == "actions"
            for e in b["elements"]}


def shown(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks)


def posts(bot: Bot) -> Counter[str]:
    """The failovers the bot started in Azure, per hub (the simulated Activity Log)."""
    since = datetime(2000, 1, 1, tzinfo=bot.clock.now().tzinfo)
    return Counter(hub.name for hub in bot.gateway.list_hubs()
                   for op in bot.gateway.failover_operations(hub.ref, since)
                   if op.caller == SIM_BOT_CALLER)


@pytest.fixture
def run(bot: Bot) -> Iterator[Callable[..., None]]:
    """The real poller (with the Slack board keeper and rate limiter), round after round on
    the fake clock, until ``done()``."""
    client = make_web_client(bot.slack.bot_token, bot.server.api_url, sleep=lambda _: None)
    outbox = RateLimitedNotifier(bot.notifier, bot.clock)
    poller = Poller(bot.service, bot.service.uow, outbox, bot.clock, owner_id="test",
                    poll_interval=timedelta(seconds=5), lease_ttl=timedelta(minutes=5),
                    max_workers=1, rng=random.Random(1),
                    boards=SlackBoardNotifier(client, bot.service.boards))

    def run_until(done: Callable[[], bool], rounds: int = 2_000) -> None:
        for _ in range(rounds):
            poller.run_once()
            outbox.flush()
            if done():
                return
            bot.clock.advance(timedelta(seconds=5))
        raise AssertionError("not reached")

    yield run_until
    poller.close()


def requested_batch(bot: Bot, **kwargs: object) -> str:
    response = submit(bot, open_dialog(bot), **kwargs)  # type: ignore[arg-type]
    assert json.loads(response.body)["response_action"] == "update"
    return buttons(board(bot))["approve"]


def test_the_dialog_lists_the_hubs_active_in_the_region_with_their_eligibility(
        bot: Bot) -> None:
    bot.request_and_submit(HUB)  # contoso-hub: a request is open on it

    modal = open_dialog(bot, 'failover --region "West Europe"')

    assert [c.method for c in bot.slack.calls() if c.method.startswith("views.")][-2:] == [
        "views.open", "views.update"]
    assert "Reading every IoT Hub" in shown(bot.slack.calls("views.open")[-1].params["view"][
        "blocks"])
    text = shown(modal.view["blocks"])
    lines = {line.split("`")[1]: line for section in modal.view["blocks"]
             if section["type"] == "section" for line in section["text"]["text"].split("\n")
             if line.count("`") >= 2}
    assert set(lines) == {*SIX, "weu-local", "neu-b", HUB}
    assert "an operation is running or requested" in lines[HUB]
    assert "no paired region" in lines["weu-local"]
    assert "failback" in lines["neu-b"]
    assert all(":white_check_mark:" in lines[h] and "North Europe" in lines[h] for h in SIX)
    assert "400,000 devices" in lines["weu-b"] and "left today" in lines["weu-b"]
    hubs = next(b for b in modal.view["blocks"] if b.get("block_id") == "hubs")
    assert hubs["element"]["type"] == "multi_static_select"
    options = [o["value"] for o in hubs["element"]["options"]]
    assert sorted(options) == sorted(SIX)  # eligible ones only, every one preselected
    assert [o["value"] for o in hubs["element"]["initial_options"]] == options
    inputs = {b["block_id"]: b["element"]["action_id"] for b in modal.view["blocks"]
              if b["type"] == "input"}
    assert inputs == {"hubs": "hubs", "confirm_region": "confirm_region", "reason": "reason"}
    assert json.loads(modal.view["private_metadata"])["region"] == "westeurope"
    assert "West Europe" in text and modal.view["callback_id"] == "region_confirm"


def test_an_unknown_region_gets_the_usage_answer(bot: Bot) -> None:
    response = bot.command("failover --region Atlantis")
    assert "Atlantis" in json.loads(response.body)["text"]
    assert bot.slack.calls("views.open") == []


def test_a_wrong_region_is_an_inline_error_nothing_is_written_and_it_is_audited(
        bot: Bot) -> None:
    response = submit(bot, open_dialog(bot), typed="North Europe")

    body = json.loads(response.body)
    assert body["response_action"] == "errors" and set(body["errors"]) == {"confirm_region"}
    assert "West Europe" in body["errors"]["confirm_region"]
    assert bot.slack.messages(CHANNEL) == []
    with bot.service.uow() as uow:
        assert uow.batches.recent(5) == []
    events = bot.service.reading.audit(AuditQuery(limit=100))
    assert [e.detail.get("reason") for e in events if e.action is AuditAction.REFUSED] == [
        "name_mismatch"]


def test_submitting_six_hubs_posts_one_approval_message_with_the_batch_id(bot: Bot) -> None:
    response = submit(bot, open_dialog(bot), hubs=SIX)

    assert json.loads(response.body)["response_action"] == "update"
    message = board(bot)
    assert len(bot.slack.messages(CHANNEL, top_level=True)) == 1
    values = buttons(message)
    assert set(values) == {"approve", "reject"}
    assert values["approve"] == values["reject"] and values["approve"].startswith("fb-")
    text = shown(message.blocks)
    assert "Fail over 6 hubs from West Europe to their paired regions" in text
    assert all(f"`{hub}`" in text for hub in SIX) and HUB not in text
    assert "INC-77 West Europe is down" in text and f"<@{REQUESTER}>" in text
    result = list(bot.slack.views.values())[-1]
    assert values["approve"] in shown(result.view["blocks"])


def test_approval_moves_every_hub_once_and_the_one_board_ends_with_all_done(
        bot: Bot, run: Callable[..., None]) -> None:
    batch_id = requested_batch(bot)
    ts = board(bot).ts

    bot.click("approve", batch_id, user=APPROVER)

    assert "stop_rest" in buttons(board(bot))  # the board was edited at once
    run(lambda: "6 of 6 done" in shown(board(bot).blocks)
        and len(bot.slack.thread(CHANNEL, ts)) == 1)
    assert posts(bot) == Counter(SIX)
    final = board(bot)
    assert final.ts == ts and final.edits >= 2
    assert all(f"`{hub}`" in shown(final.blocks) for hub in SIX)
    assert buttons(final) == {}
    assert {c.params["ts"] for c in bot.slack.calls("chat.update") if c.params.get("ts")
            and c.params.get("channel") == CHANNEL} == {ts}
    closing = bot.slack.thread(CHANNEL, ts)[0]
    assert "6 of 6 done" in closing.text and f"audit --batch {batch_id}" in closing.text
    assert closing.reply_broadcast


def test_two_approvals_give_one_and_the_second_is_told_neutrally(
        bot: Bot, run: Callable[..., None]) -> None:
    batch_id = requested_batch(bot)

    bot.click("approve", batch_id, user=APPROVER)
    bot.click("approve", batch_id, user=BYSTANDER)

    told = bot.slack.ephemerals(BYSTANDER)
    assert len(told) == 1 and "already approved by <@U0BOB>" in told[0].text
    assert "nothing to do" in told[0].text
    run(lambda: "6 of 6 done" in shown(board(bot).blocks))
    assert posts(bot) == Counter(SIX)


def test_the_requester_cannot_approve_their_own_batch(bot: Bot) -> None:
    batch_id = requested_batch(bot)

    bot.click("approve", batch_id, user=REQUESTER)

    assert "cannot approve your own" in bot.slack.ephemerals(REQUESTER)[0].text
    assert set(buttons(board(bot))) == {"approve", "reject"}


def test_rejecting_a_batch_starts_nothing(bot: Bot, run: Callable[..., None]) -> None:
    batch_id = requested_batch(bot)

    bot.click("reject", batch_id, user=APPROVER)

    text = shown(board(bot).blocks)
    assert "Rejected by <@U0BOB>" in text and buttons(board(bot)) == {}
    run(lambda: True)
    assert posts(bot) == Counter()


def test_a_failing_hub_gets_a_thread_reply_and_retry_failed_moves_it(
        bot: Bot, run: Callable[..., None]) -> None:
    bot.gateway.inject("weu-d", fail_next_with=("InternalServerError",
                                                "Failover could not complete: storage busy"))
    batch_id = requested_batch(bot)
    ts = board(bot).ts
    bot.click("approve", batch_id, user=APPROVER)

    run(lambda: "1 failed" in shown(board(bot).blocks)
        and not any(b["type"] == "actions" for b in board(bot).blocks))
    replies = [m for m in bot.slack.thread(CHANNEL, ts) if "weu-d" in shown(m.blocks)]
    assert len(replies) == 1
    reply = shown(replies[0].blocks)
    assert "InternalServerError" in reply and "storage busy" in reply
    assert buttons(replies[0]) == {"retry_failed": batch_id}

    bot.click("retry_failed", batch_id, user=REQUESTER)  # the requester cannot approve it
    refused = bot.slack.ephemerals(REQUESTER)[-1].text
    assert "approver's button" in refused and "not the batch's requester" in refused
    bot.click("retry_failed", batch_id, user=APPROVER)
    assert "Retrying 1 failed hub" in bot.slack.ephemerals(APPROVER)[-1].text

    run(lambda: "6 of 6 done" in shown(board(bot).blocks))
    assert posts(bot)["weu-d"] == 2 and sum(posts(bot).values()) == 7
    hub = next(h for h in bot.gateway.list_hubs() if h.name == "weu-d")
    assert hub.active_display == "North Europe"


def test_stop_the_rest_after_two_starts_cancels_the_others(
        bot: Bot, run: Callable[..., None]) -> None:
    bot.service.batch_starts_per_minute = 1  # a minute between starts
    batch_id = requested_batch(bot)
    bot.click("approve", batch_id, user=APPROVER)

    run(lambda: sum(posts(bot).values()) == 2)
    bot.click("stop_rest", batch_id, user=APPROVER)

    assert "4 hubs not started yet were cancelled" in bot.slack.ephemerals(APPROVER)[-1].text
    run(lambda: "4 cancelled" in shown(board(bot).blocks)
        and "2 of 6 done" in shown(board(bot).blocks), rounds=400)
    bot.clock.advance(timedelta(minutes=10))
    run(lambda: True)
    assert sum(posts(bot).values()) == 2
    assert "stop_rest" not in buttons(board(bot))
    assert "Stopped by <@U0BOB>" in shown(board(bot).blocks)


def test_a_region_past_100_eligible_hubs_asks_for_all_with_an_exclusion_list(
        make_bot: MakeBot) -> None:
    bot = make_bot(time_scale=SPEED)
    for i in range(120):
        bot.gateway.add_hub(f"big-{i:03d}", "West Europe", 100)
    modal = open_dialog(bot, "failover --region westeurope")

    blocks = modal.view["blocks"]
    assert len(blocks) <= 100
    hubs = next(b for b in blocks if b.get("block_id") == "hubs")
    assert hubs["element"]["type"] == "checkboxes"
    assert "All 121 eligible hubs" in shown([hubs])
    assert any(b.get("block_id") == "exclude" for b in blocks)

    submit(bot, modal, exclude="big-000, big-001 contoso-hub")

    result = shown(list(bot.slack.views.values())[-1].view["blocks"])
    assert "of 118 hubs" in result
    message = board(bot)
    assert len(message.blocks) <= 50
    assert "Fail over 118 hubs" in shown(message.blocks)


def test_failback_after_the_outage_starts_hubs_inside_their_cool_down_once_allowed(
        bot: Bot, run: Callable[..., None]) -> None:
    three = ["weu-a", "weu-b", "weu-c"]
    failover = requested_batch(bot, hubs=three)
    bot.click("approve", failover, user=APPROVER)
    run(lambda: "3 of 3 done" in shown(board(bot).blocks))

    bot.command("--region West Europe", command="/failback")
    modal = list(bot.slack.views.values())[-1]
    lines = {line.split("`")[1]: line for section in modal.view["blocks"]
             if section["type"] == "section" for line in section["text"]["text"].split("\n")
             if line.count("`") >= 2}
    assert set(lines) == set(three)  # home West Europe, active elsewhere
    assert all(":white_check_mark:" in line and "→ West Europe" in line
               for line in lines.values())
    waiting = [hub for hub, line in lines.items() if "cool-down: starts at" in line]
    assert waiting  # just failed over: inside the cool-down, scheduled, not refused

    submit(bot, modal, hubs=three)
    failback = next(v for m in bot.slack.messages(CHANNEL, top_level=True)
                    if (v := buttons(m).get("approve")) and v != failover)
    bot.click("approve", failback, user=APPROVER)
    message = next(m for m in bot.slack.messages(CHANNEL, top_level=True)
                   if failback in shown(m.blocks))
    assert "Fail back 3 hubs to West Europe" in shown(message.blocks)
    assert "starts at" in shown(message.blocks)
    run(lambda: "3 of 3 done" in shown(bot.slack.message(CHANNEL, message.ts).blocks))

    assert posts(bot) == Counter({hub: 2 for hub in three})  # one failover, one failback
    assert all(h.active_display == "West Europe" for h in bot.gateway.list_hubs()
               if h.name in three)


def test_only_an_approver_or_the_requester_may_reject_a_batch(bot: Bot) -> None:
    batch_id = requested_batch(bot)

    bot.click("reject", batch_id, user=BYSTANDER)  # not in BOT_APPROVERS

    assert "not an approver" in bot.slack.ephemerals(BYSTANDER)[0].text
    assert set(buttons(board(bot))) == {"approve", "reject"}
    bot.click("reject", batch_id, user=REQUESTER)  # the requester withdraws it
    assert buttons(board(bot)) == {}


def test_a_region_with_no_hub_says_where_hubs_are(bot: Bot) -> None:
    modal = open_dialog(bot, "failover --region eastus")

    text = shown(modal.view["blocks"])
    assert "No IoT Hub I can see is active in East US" in text and "West Europe" in text
    assert "submit" not in modal.view


def test_an_undecided_batch_expires_and_its_board_says_so(
        bot: Bot, run: Callable[..., None]) -> None:
    requested_batch(bot)

    bot.clock.advance(bot.settings.bot_request_ttl + timedelta(seconds=1))
    run(lambda: "Expired" in shown(board(bot).blocks))

    assert buttons(board(bot)) == {} and posts(bot) == Counter()
    assert "6 cancelled" in shown(board(bot).blocks)
