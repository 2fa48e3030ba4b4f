"""The Home tab: ``app_home_opened`` (signed, as Slack's Events API posts it) → one
``views.publish`` for that user, with the fleet by region, what runs and recent batches; the
front only acks and hands the work over; the URL verification challenge still answers."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

from slack_bolt import BoltRequest
from starlette.testclient import TestClient

from bot.domain.drill import Drill, DrillStatus
from bot.domain.drill_schedule import DrillSchedule
from bot.domain.request import RequestStatus
from bot.service import FailoverService
from bot.slack.actors import SlackActorResolver
from bot.slack.app import create_app
from bot.slack.front_app import create_front_app
from bot.slack.guard import own_identity
from bot.slack.home import MAX_DRILLS
from bot.slack.lazy import HOME, LazyJob, run_job
from bot.store.health import WRITABLE, DatabaseHealth
from bot.store.sql import unit_of_work_factory
from bot.telemetry import Metrics, render_latest
from bot.web import create_web_app

from .conftest import APPROVER, BYSTANDER, HUB, REQUESTER, SECRET, Bot, SyncExecutor
from .regional import approved_batch, home_opened_body, json_signed


def _open_home(bot: Bot, user: str, **kwargs: Any) -> int:
    body = home_opened_body(bot, user, **kwargs)
    return bot.app.dispatch(BoltRequest(body=body, headers=json_signed(body))).status


def _home_text(bot: Bot, user: str) -> str:
    view = bot.slack.home_views[user]
    assert view["type"] == "home"
    return json.dumps(view["blocks"], ensure_ascii=False)


def _incident(bot: Bot) -> str:
    """A hub failed over outside the bot, a single failover running, a batch approved."""
    bot.gateway.add_hub("fabrikam-neu", "northeurope", 500)
    bot.gateway.outside_failover("fabrikam-neu", caller="oncall@contoso.com",
                                 ago=timedelta(hours=2))
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)
    running = bot.service.reading.get_request(request_id)
    assert running is not None and running.status is RequestStatus.RUNNING
    return approved_batch(bot)


def test_opening_the_home_tab_publishes_the_fleet_operations_and_batches(bot: Bot) -> None:
    batch_id = _incident(bot)
    published = len(bot.slack.calls("views.publish"))

    assert _open_home(bot, BYSTANDER) == 200

    calls = bot.slack.calls("views.publish")[published:]
    assert [(c.params["user_id"], c.ok) for c in calls] == [(BYSTANDER, True)]
    assert list(bot.slack.home_views) == [BYSTANDER]
    shown = _home_text(bot, BYSTANDER)
    # The fleet by active region, and who is away from home.
    assert "*West Europe*: 4 hubs (1 away from home" in shown
    assert "*Fleet by active region*: 4 hubs in 1 region" in shown
    assert "`fabrikam-neu` active in *West Europe* (home North Europe)" in shown
    # The running operation: hub, kind, status, since, who.
    assert f"`{HUB}` – failover running since <!date^" in shown
    assert f"requested by <@{REQUESTER}>, approved by <@{APPROVER}>" in shown
    # The batch: id, region, kind, totals, status, a link to its board.
    assert f"`{batch_id}` *failover* of *West Europe* – in progress" in shown
    assert "0 of 2 done · 2 waiting" in shown
    assert "|the board>" in shown
    assert "`weu-a` – failover approved, starting" in shown and f"batch `{batch_id}`" in shown


def test_each_user_gets_their_own_publish_and_the_messages_tab_none(bot: Bot) -> None:
    assert _open_home(bot, REQUESTER) == 200
    assert _open_home(bot, APPROVER) == 200
    assert _open_home(bot, BYSTANDER, tab="messages") == 200
    assert [c.params["user_id"] for c in bot.slack.calls("views.publish")] == [
        REQUESTER, APPROVER]
    assert "Nothing is running or waiting for approval" in _home_text(bot, APPROVER)
    assert "None yet: `/iothub failover --region" in _home_text(bot, APPROVER)
    assert "*Drills*\\nNone yet: `/iothub drill <hub>`" in _home_text(bot, APPROVER)


def test_a_database_that_cannot_be_read_is_said_on_the_tab(bot: Bot, tmp_path: Any) -> None:
    down = FailoverService(uow=unit_of_work_factory(f"sqlite:///{tmp_path / 'no' / 'x.db'}"),
                           gateway=bot.gateway, clock=bot.clock)
    bot.service.uow = down.uow
    assert _open_home(bot, REQUESTER) == 200
    assert "could not reach the audit database" in _home_text(bot, REQUESTER)


class _Front:
    """The front's Bolt app behind the HTTP face, as ``serve`` builds it."""

    def __init__(self, bot: Bot) -> None:
        self.jobs: list[LazyJob] = []
        self.app = create_front_app(signing_secret=bot.settings.signing_secret,
                                    access=bot.settings.access, client=bot.app.client,
                                    workspace=own_identity(bot.app.client),
                                    hand_over=self.jobs.append)
        metrics = Metrics()
        self.http = TestClient(create_web_app(
            self.app, signing_secret=SECRET, database_health=lambda: DatabaseHealth(WRITABLE),
            work_process_state=lambda: "running",
            own_metrics=lambda accept: render_latest(metrics, accept)))

    def post(self, body: str) -> Any:
        return self.http.post("/slack/events", content=body, headers=json_signed(body))


def test_the_front_acks_and_hands_over_the_work_process_publishes(bot: Bot) -> None:
    _incident(bot)
    front = _Front(bot)
    before = len(bot.slack.calls())

    response = front.post(home_opened_body(bot, BYSTANDER))

    assert response.status_code == 200
    assert [job.function for job in front.jobs] == [HOME]
    # No Slack call from the front but Bolt's own auth.test (once per app, at its first
    # request): no read, no publish.
    assert {c.method for c in bot.slack.calls()[before:]} <= {"auth.test"}
    assert bot.slack.home_views == {}
    # The work process's app (it sees only what the front verified) does the work.
    work = create_app(bot.service, settings=bot.settings, client=bot.app.client,
                      actor_resolver=SlackActorResolver(bot.app.client, frozenset()),
                      executor=SyncExecutor(), notifier=bot.notifier, verify_requests=False)
    run_job(work, front.jobs[0])
    assert [c.params["user_id"] for c in bot.slack.calls("views.publish")] == [BYSTANDER]
    assert f"`{HUB}` – failover running" in _home_text(bot, BYSTANDER)


def test_the_url_verification_challenge_still_answers(bot: Bot) -> None:
    front = _Front(bot)
    body = json.dumps({"token": "unused", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALW",
                       "type": "url_verification"})
    response = front.post(body)
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALW" in response.text
    assert front.jobs == []
    unsigned = front.http.post("/slack/events", content=body,
                               headers={"content-type": "application/json"})
    assert unsigned.status_code == 401


def test_hundreds_of_hubs_make_one_view_slack_accepts(bot: Bot) -> None:
    regions = ["westeurope", "northeurope", "eastus", "westus2", "japaneast", "uksouth"]
    for i in range(300):
        bot.gateway.add_hub(f"fleet-{i:03d}", regions[i % len(regions)], 100 + i)
    for i in range(0, 300, 3):
        bot.gateway.outside_failover(f"fleet-{i:03d}", caller="oncall@contoso.com",
                                     ago=timedelta(hours=2))
    assert _open_home(bot, BYSTANDER) == 200
    assert [c.ok for c in bot.slack.calls("views.publish")] == [True]  # the fake validates
    shown = _home_text(bot, BYSTANDER)
    assert "*Fleet by active region*: 301 hubs in 6 regions" in shown
    assert "*Away from home* (100)" in shown and "more: `/iothub list` shows them all" in shown
    assert len(bot.slack.home_views[BYSTANDER]["blocks"]) < 100


def _seed_drills(bot: Bot, schedules: int, hubs: int, per_hub: int) -> None:
    """``schedules`` drill schedules, an hour apart, stored in no particular order; and
    ``per_hub`` finished drills of each of ``hubs`` hubs, a day apart."""
    now = bot.clock.now()
    order = random.Random(7).sample(range(schedules), schedules)
    with bot.service.uow() as uow:
        for i in order:
            uow.drills.add_schedule(DrillSchedule(
                f"ds-{i:08x}", f"drill-{i:03d}", "C0DRILL", REQUESTER, now, "rehearsal",
                now + timedelta(hours=i + 1), timedelta(days=90)))
        for i in range(hubs):
            for n in range(per_hub):
                report = {"legs": {leg: {"ran": True, "verdict": "verified",
                                         "to_verified_s": 60.0 * (n + 2)}
                                   for leg in ("failover", "failback")}}
                uow.drills.add(Drill(
                    f"dr-{i:04x}{n:04x}", f"drill-{i:03d}", "C0DRILL", REQUESTER, "rehearsal",
                    now - timedelta(days=per_hub - n, minutes=i), f"fr-{i:04x}{n:04x}",
                    DrillStatus.DONE, report=report))
        uow.commit()


def test_the_next_drills_and_each_hubs_last_stay_within_slacks_limits(bot: Bot) -> None:
    _seed_drills(bot, schedules=200, hubs=250, per_hub=2)  # 500 drills

    assert _open_home(bot, BYSTANDER) == 200

    assert [c.ok for c in bot.slack.calls("views.publish")] == [True]  # the fake validates
    blocks = bot.slack.home_views[BYSTANDER]["blocks"]
    assert len(blocks) < 100
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    coming = next(t for t in sections if t.startswith("*Next drills*"))
    last = next(t for t in sections if t.startswith("*Last drill of each hub*"))
    assert all(len(text) <= 3000 for text in (coming, last))
    assert coming.startswith("*Next drills*, soonest first (200 scheduled)\n• `drill-000` ")
    assert f"every 90d · scheduled by <@{REQUESTER}>" in coming
    shown = [line for line in coming.splitlines() if line.startswith("• ")]
    assert [line.split("`")[1] for line in shown] == [f"drill-{i:03d}" for i in range(len(shown))]
    assert coming.endswith(f"… and {200 - len(shown)} more: `/iothub drills` lists them all")
    # Each hub once, its latest drill (verified in 3 min, not the first's 2), newest first.
    assert last.startswith("*Last drill of each hub*, newest first (250 hubs)\n• `drill-000` ")
    lines = [line for line in last.splitlines() if line.startswith("• ")]
    assert all(line.endswith("done · failover verified, failback verified · failover "
                             "verified in 3m") for line in lines)
    assert len(shown) == len(lines) == MAX_DRILLS
    assert last.endswith(f"… and {250 - len(lines)} more: `/iothub drills` lists them all")
