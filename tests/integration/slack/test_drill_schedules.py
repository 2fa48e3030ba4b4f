"""Scheduled drills on two replicas (issue #23): at its time a schedule asks for one drill's
approval, not two, whichever replica's poller gets there first; a hub no longer fit for a
drill gets one line in the channel and nothing else.

Two replicas as in production: each its own service, Azure gateway (the real
azure-mgmt-iothub and azure-mgmt-monitor SDKs, ARM emulated by ``responses``), Slack notifier
and poller (its own owner id), over one database: a SQLite file and, with
``POSTGRES_TEST_URL``, PostgreSQL. The schedule is made through the real Bolt app
(``/iothub drill <hub> --every 1d``); time is a FakeClock both replicas share.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import responses

from bot.config import load_settings
from bot.domain.clock import FakeClock
from bot.domain.drill import Drill, DrillStatus
from bot.domain.drill_schedule import DrillSchedule
from bot.domain.request import FailoverRequest, RequestStatus
from bot.hubs.activity import CachedActivityLog, InvalidatingGateway
from bot.hubs.azure import AzureIotHubGateway
from bot.poller import Poller
from bot.poller.announce import ANNOUNCE_GRACE
from bot.poller.drill_keeper import SCHEDULES_EVERY
from bot.service import FailoverService
from bot.slack.actors import SlackActorResolver
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.slack.notifier import SlackNotifier
from bot.store.base import AuditQuery
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.slack_api import FakeSlackServer, Message
from tests.support import SyncExecutor

from .conftest import AUDIT_CHANNEL, CHANNEL, ONCALL_GROUP, REQUESTER, SECRET, Bot
from .verification_world import (
    DEVICES,
    GROUP,
    HUB,
    MOVE,
    POLL,
    PUBLIC_ARM,
    SUBSCRIPTION,
    ArmConsumers,
    ArmEmulator,
    ArmMetrics,
    StaticTokenCredential,
    _router,
)

MARKED = {"failover-bot-drill": "allowed"}
DAY = timedelta(days=1)
STEP = timedelta(seconds=10)  # between rounds, around a schedule's time


@dataclass
class Replicas:
    bot: Bot  # replica A's Bolt app: where people's commands arrive
    arm: ArmEmulator
    pollers: list[Poller]

    @property
    def clock(self) -> FakeClock:
        return self.bot.clock

    def rounds(self, until: datetime) -> None:
        """Both replicas' pollers, each instant side by side (threads started together),
        the clock moving ``STEP`` between instants, up to ``until``."""
        while True:
            gate = threading.Barrier(len(self.pollers))
            errors: list[BaseException] = []

            def run(poller: Poller, gate: threading.Barrier = gate,
                    errors: list[BaseException] = errors) -> None:
                gate.wait()
                try:
                    poller.run_once()
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(p,)) for p in self.pollers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, errors
            if self.clock.now() >= until:
                return
            self.clock.advance(min(STEP, until - self.clock.now()))

    def schedule(self) -> DrillSchedule:
        with self.bot.service.uow() as uow:
            (schedule,) = uow.drills.schedules(HUB)
        return schedule

    def drills(self) -> list[Drill]:
        with self.bot.service.uow() as uow:
            return uow.drills.history(HUB)

    def requests(self) -> list[FailoverRequest]:
        with self.bot.service.uow() as uow:
            return uow.requests.recent(HUB, 20)

    def approval_messages(self, request_id: str) -> list[Message]:
        return [m for m in self.bot.slack.messages(CHANNEL, top_level=True)
                if any(e.get("action_id") == "approve" and e.get("value") == request_id
                       for b in m.blocks if b["type"] == "actions" for e in b["elements"])]

    def refusals(self) -> list[Message]:
        return [m for m in self.bot.slack.messages(CHANNEL, top_level=True)
                if "did not start" in m.text]


@pytest.fixture
def db_file_url(db_url: str) -> str:
    """SQLite and, when POSTGRES_TEST_URL is set, PostgreSQL."""
    return db_url


@pytest.fixture
def replicas(fake_slack: FakeSlackServer, db_file_url: str) -> Iterator[Replicas]:
    settings = load_settings(
        slack_signing_secret=SECRET, slack_bot_token=fake_slack.slack.bot_token,
        slack_api_url=fake_slack.api_url, bot_approvers=ONCALL_GROUP,
        bot_allowed_channels=f"{CHANNEL},{AUDIT_CHANNEL}")
    clock = FakeClock()
    arm = ArmEmulator(None, clock, operation_time=MOVE)
    arm.add_hub(HUB, "West Europe", "North Europe", DEVICES, resource_group=GROUP,
                tags=dict(MARKED))
    engines = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, re.compile(re.escape(PUBLIC_ARM) + r"/.*"),
                              callback=_router(arm, ArmMetrics(clock),
                                               ArmConsumers(responses.RequestsMock(), clock)),
                              content_type="application/json")
        pollers, bot = [], None
        for owner in ("replica-a", "replica-b"):
            engine = make_engine(db_file_url)
            engines.append(engine)
            iothub = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION], clock=clock)
            activity = CachedActivityLog(iothub, clock, settings.bot_activity_log_ttl)
            gateway = InvalidatingGateway(iothub, activity)
            service = FailoverService(uow=unit_of_work_factory(engine), gateway=gateway,
                                      clock=clock, limits=settings.limits,
                                      access=settings.access,
                                      request_ttl=settings.bot_request_ttl,
                                      poll_interval=POLL, activity=activity)
            client = make_web_client(fake_slack.slack.bot_token, fake_slack.api_url,
                                     sleep=lambda _: None)
            notifier = SlackNotifier(client, service.notices,
                                     audit_channel=settings.bot_audit_channel)
            pollers.append(Poller(service, service.uow, notifier, clock, owner_id=owner,
                                  poll_interval=POLL, lease_ttl=timedelta(minutes=5),
                                  max_workers=2, rng=random.Random(1), drills=notifier))
            if bot is None:
                app = create_app(service, settings=settings, client=client, notifier=notifier,
                                 actor_resolver=SlackActorResolver(
                                     client, settings.access.group_ids, clock=clock),
                                 executor=SyncExecutor())
                bot = Bot(app, fake_slack, service, gateway, clock,  # type: ignore[arg-type]
                          settings, notifier)
        assert bot is not None
        yield Replicas(bot, arm, pollers)
    for engine in engines:
        engine.dispose()


def _scheduled(replicas: Replicas) -> DrillSchedule:
    """Alice schedules a daily drill through Slack; returns the schedule."""
    replicas.bot.command(f"drill {HUB} --every 1d")
    answer = str(replicas.bot.slack.responses[-1].body)
    assert f"Scheduled: a drill of `{HUB}` every day" in answer, answer
    schedule = replicas.schedule()
    assert schedule.created_by == REQUESTER and schedule.every == DAY
    assert schedule.next_at == replicas.clock.now() + DAY
    return schedule


def test_a_scheduled_drill_asks_for_one_approval_at_its_time_on_two_replicas(
        replicas: Replicas) -> None:
    schedule = _scheduled(replicas)
    due = schedule.next_at
    assert due is not None

    replicas.clock.set(due - timedelta(minutes=2))
    replicas.rounds(until=due - STEP)
    assert replicas.drills() == [] and replicas.requests() == []  # not before its time

    # At its time: within the keeper's look at schedules (every 30 s), and its approval
    # message out with it (not left to a sweep a minute later: ANNOUNCE_GRACE).
    replicas.rounds(until=due + SCHEDULES_EVERY + STEP)
    (request,) = replicas.requests()
    assert due <= request.created_at <= due + SCHEDULES_EVERY, (due, request.created_at)
    assert len(replicas.approval_messages(request.id)) == 1
    replicas.rounds(until=due + ANNOUNCE_GRACE + timedelta(minutes=2))  # the sweeps' turn
    (drill,) = replicas.drills()
    assert replicas.requests() == [request]
    assert request.status is RequestStatus.AWAITING_APPROVAL and request.drill_id == drill.id
    assert request.requested_by == REQUESTER and drill.requested_by == REQUESTER
    assert request.reason == ("Scheduled drill (every day, on the schedule the requester set "
                              "up): rehearsal on a schedule"), request.reason
    assert drill.scheduled_by == REQUESTER and drill.schedule_id == schedule.id
    assert drill.status is DrillStatus.ASKED
    (approval,) = replicas.approval_messages(request.id)  # one approval message
    shown = json.dumps(approval.blocks)
    # Scheduled, and by whom: Alice, a mention Slack shows as her name (not inert text).
    assert f"*Requested by*\\n<@{REQUESTER}>" in shown, shown
    assert "*Reason*\\nScheduled drill (every day, on the schedule the requester" in shown
    assert "&lt;@" not in shown, shown
    assert f"Drill `{drill.id}`" in shown and "Approving approves both legs" in shown
    assert replicas.schedule().next_at == due + DAY

    # Nobody approves: the request expires and the drill did not run. The day after, the
    # schedule asks again, once.
    replicas.clock.set(due + DAY - timedelta(minutes=2))
    replicas.rounds(until=due + DAY + timedelta(minutes=2))
    first, second = sorted(replicas.requests(), key=lambda r: r.created_at)
    assert first.id == request.id and first.status is RequestStatus.EXPIRED
    assert due + DAY <= second.created_at <= due + DAY + SCHEDULES_EVERY
    assert second.status is RequestStatus.AWAITING_APPROVAL
    statuses = {d.id: d.status for d in replicas.drills()}
    assert statuses == {drill.id: DrillStatus.NOT_RUN, second.drill_id: DrillStatus.ASKED}
    assert len(replicas.approval_messages(second.id)) == 1
    assert replicas.schedule().next_at == due + 2 * DAY
    assert replicas.refusals() == []


def _unmark(replicas: Replicas) -> None:
    replicas.arm.hub(HUB).tags.clear()


def _use_todays_failovers(replicas: Replicas) -> None:
    """Someone failed the hub over and back in the portal hours ago: no failover to spare."""
    replicas.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=5))
    replicas.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=3))


@pytest.mark.parametrize(("unfit", "words"), [
    (_unmark, "is not marked for drills"),
    (_use_todays_failovers, "never uses the day's last failover"),
], ids=["no-longer-marked", "at-quota"])
def test_a_scheduled_drill_of_a_hub_unfit_for_it_is_one_line_and_nothing_else(
        replicas: Replicas, unfit: Callable[[Replicas], None], words: str) -> None:
    schedule = _scheduled(replicas)
    due = schedule.next_at
    assert due is not None
    replicas.clock.set(due - timedelta(minutes=2))
    unfit(replicas)

    replicas.rounds(until=due + timedelta(minutes=2))

    (refusal,) = replicas.refusals()
    assert refusal.text.startswith(f"The drill of `{HUB}` scheduled by <@{REQUESTER}> did "
                                   "not start:"), refusal.text
    assert words in refusal.text, refusal.text
    assert replicas.drills() == [] and replicas.requests() == []
    assert replicas.bot.slack.messages(CHANNEL) == [refusal]
    assert replicas.schedule().next_at == due + DAY  # it tries again tomorrow
    refused = replicas.bot.service.reading.audit(AuditQuery(limit=50))
    assert [e.action.value for e in refused].count("refused") == 1, refused
