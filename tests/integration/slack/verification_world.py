"""A move verified end to end: the real Bolt app with signed requests and the fake Slack Web
API; Azure through the real azure-mgmt-iothub, azure-mgmt-monitor, azure-mgmt-web and
azure-mgmt-streamanalytics SDKs, ARM emulated by ``responses`` (hubs, their metrics, their
consumers); the real poller on a FakeClock, on a SQLite file."""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import requests
import responses

from bot.config import load_settings
from bot.domain.clock import FakeClock
from bot.domain.model import HubRef
from bot.domain.verification import MINUTE, VerifyRules, floor_minute
from bot.hubs.activity import CachedActivityLog, InvalidatingGateway
from bot.hubs.azure import AzureIotHubGateway
from bot.poller import Poller
from bot.service import FailoverService
from bot.slack.actors import SlackActorResolver
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.slack.notifier import SlackNotifier
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.slack_api import FakeSlackServer, Message
from tests.support import SyncExecutor

from .conftest import AUDIT_CHANNEL, CHANNEL, ONCALL_GROUP, SECRET, Bot

_HUB_TESTS = str(Path(__file__).resolve().parents[1] / "hubs")
if _HUB_TESTS not in sys.path:
    sys.path.insert(0, _HUB_TESTS)
from _arm_consumers import ArmConsumers  # noqa: E402
from _arm_emulator import PUBLIC_ARM, ArmEmulator  # noqa: E402
from _arm_metrics import METRICS_PATH, ArmMetrics  # noqa: E402
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential  # noqa: E402

HUB = "contoso-hub"
GROUP = "rg-contoso"
DEVICES = 10_040
MOVE = timedelta(minutes=10)  # how long the emulated failover takes
POLL = timedelta(seconds=30)
DEFAULT_RULES = VerifyRules()
CONSUMERS_TAG = ("Microsoft.Web/sites/func-telemetry,"
                 "Microsoft.StreamAnalytics/streamingjobs/asa-alerts")


@dataclass
class World:
    bot: Bot
    arm: ArmEmulator
    metrics: ArmMetrics
    consumers: ArmConsumers
    poller: Poller
    ref: HubRef

    @property
    def clock(self) -> FakeClock:
        return self.bot.clock

    def steady(self, *, hours: int = 6, devices: float = DEVICES,
               telemetry: float = 60_000) -> None:
        """Steady minutes from an hour before now to ``hours`` after: every move verifies."""
        now = floor_minute(self.clock.now())
        minutes = [now + MINUTE * i for i in range(-60, hours * 60)]
        self.metrics.hub(self.ref, devices=dict.fromkeys(minutes, devices),
                         telemetry=dict.fromkeys(minutes, telemetry))

    def baseline(self, *, devices: float = DEVICES, telemetry: float = 60_000) -> None:
        """The hour before now: steady devices and telemetry."""
        now = floor_minute(self.clock.now())
        minutes = [now - MINUTE * i for i in range(1, 61)]
        self.metrics.hub(self.ref, devices=dict.fromkeys(minutes, devices),
                         telemetry=dict.fromkeys(minutes, telemetry))

    def after(self, start: datetime, devices: list[float | None],
              telemetry: list[float | None]) -> None:
        """Minutes from ``start`` on."""
        self.metrics.hub(self.ref,
                         devices={start + MINUTE * i: v for i, v in enumerate(devices)},
                         telemetry={start + MINUTE * i: v for i, v in enumerate(telemetry)})

    def request_and_approve(self) -> str:
        request_id = self.bot.request_and_submit(HUB)
        self.bot.click("approve", request_id)
        return request_id

    def rounds(self, until: datetime, step: timedelta = POLL) -> None:
        """The real poller, round after round on the fake clock, until ``until``."""
        while self.clock.now() < until:
            self.poller.run_once()
            self.clock.advance(step)
        self.poller.run_once()

    def thread(self, request_id: str) -> list[Message]:
        request = self.bot.service.reading.get_request(request_id)
        assert request is not None and request.message_ts
        return [m for m in self.bot.slack.messages(CHANNEL)
                if m.thread_ts == request.message_ts]

    def thread_text(self, request_id: str) -> str:
        return "\n".join(m.text for m in self.thread(request_id))


def _router(arm: ArmEmulator, metrics: ArmMetrics, consumers: ArmConsumers):
    consumer_path = re.compile(r"/subscriptions/[^/]+/(?:resourcegroups/[^/]+/)?providers/"
                               r"Microsoft\.(?:Web|StreamAnalytics)/.*", re.IGNORECASE)

    def route(request: requests.PreparedRequest):
        path = unquote(urlparse(request.url or "").path).replace("//", "/")
        if METRICS_PATH.fullmatch(path):
            return metrics.answer(request)
        if consumer_path.fullmatch(path):
            return consumers.answer(request)
        return arm.answer(request)
    return route


MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(fake_slack: FakeSlackServer, tmp_path: Path) -> Iterator[MakeWorld]:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    engine = make_engine(url)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        def build(*, tags: dict[str, str] | None = None,
                  rules: VerifyRules | None = DEFAULT_RULES,
                  late: timedelta = timedelta(0)) -> World:
            settings = load_settings(
                slack_signing_secret=SECRET, slack_bot_token=fake_slack.slack.bot_token,
                slack_api_url=fake_slack.api_url, bot_approvers=ONCALL_GROUP,
                bot_allowed_channels=f"{CHANNEL},{AUDIT_CHANNEL}")
            clock = FakeClock()
            arm = ArmEmulator(None, clock, operation_time=MOVE)
            ref = arm.add_hub(HUB, "West Europe", "North Europe", DEVICES,
                              resource_group=GROUP, tags=tags)
            metrics = ArmMetrics(clock, late=late)
            metrics.hub(ref)
            consumers = ArmConsumers(responses.RequestsMock(), clock)
            for method in (responses.GET, responses.POST):
                rsps.add_callback(method, re.compile(re.escape(PUBLIC_ARM) + r"/.*"),
                                  callback=_router(arm, metrics, consumers),
                                  content_type="application/json")
            iothub = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION], clock=clock)
            # As bootstrap wires it: Azure's Activity Log counts what was done outside the bot.
            activity = CachedActivityLog(iothub, clock, settings.bot_activity_log_ttl)
            gateway = InvalidatingGateway(iothub, activity)
            service = FailoverService(uow=unit_of_work_factory(engine), gateway=gateway,
                                      clock=clock, limits=settings.limits,
                                      access=settings.access,
                                      request_ttl=settings.bot_request_ttl,
                                      poll_interval=POLL, verify_rules=rules,
                                      hub_metrics=iothub, consumer_restarts=iothub,
                                      activity=activity)
            client = make_web_client(fake_slack.slack.bot_token, fake_slack.api_url,
                                     sleep=lambda _: None)
            notifier = SlackNotifier(client, service.notices,
                                     audit_channel=settings.bot_audit_channel)
            app = create_app(service, settings=settings, client=client, notifier=notifier,
                             actor_resolver=SlackActorResolver(
                                 client, settings.access.group_ids, clock=clock),
                             executor=SyncExecutor())
            poller = Poller(service, service.uow, notifier, clock, owner_id="test",
                            poll_interval=POLL, lease_ttl=timedelta(minutes=5), max_workers=2,
                            rng=random.Random(1), after_move=notifier, drills=notifier)
            bot = Bot(app, fake_slack, service, gateway, clock,  # type: ignore[arg-type]
                      settings, notifier)
            return World(bot, arm, metrics, consumers, poller, ref)
        yield build
    engine.dispose()


