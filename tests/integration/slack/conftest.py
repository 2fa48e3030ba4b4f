"""The real Bolt app, the real service on a SQLite file and the simulated fleet, talking to
the fake Slack Web API; requests are signed as Slack signs them."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest, BoltResponse

from bot.config import Settings, load_settings
from bot.domain.clock import FakeClock
from bot.domain.limit_warnings import scaled_limits
from bot.domain.model import AuditEvent
from bot.poller import Poller, RateLimitedNotifier
from bot.service import FailoverService
from bot.slack.actors import SlackActorResolver
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.slack.notifier import SlackNotifier
from bot.store.base import AuditQuery
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from failover_sandbox.slack_api import FakeSlack, FakeSlackServer, Message, ModalView
from tests import support
from tests.support import SyncExecutor

SECRET = "test-signing-secret"
REQUESTER, APPROVER, BYSTANDER = "U0ALICE", "U0BOB", "U0CAROL"
CHANNEL, OTHER_CHANNEL, AUDIT_CHANNEL = "C0INCIDENT", "C0RANDOM", "C0AUDIT"
ONCALL_GROUP = "S0ONCALL"
HUB = "contoso-hub"




signed = partial(support.signed, secret=SECRET)


@dataclass
class Bot:
    """Plays Slack's part: sends commands, clicks and submissions to the app."""

    app: App
    server: FakeSlackServer
    service: FailoverService
    gateway: SimulatedIotHubGateway
    clock: FakeClock
    settings: Settings
    notifier: SlackNotifier
    responses: list[BoltResponse] = field(default_factory=list)

    @property
    def slack(self) -> FakeSlack:
        return self.server.slack

    def dispatch(self, body: str) -> BoltResponse:
        response = self.app.dispatch(BoltRequest(body=body, headers=signed(body)))
        self.responses.append(response)
        return response

    def command_body(self, text: str, *, user: str = REQUESTER, channel: str = CHANNEL,
                     command: str = "/iothub") -> str:
        return urlencode({
            "token": "unused", "team_id": self.slack.team_id, "channel_id": channel,
            "channel_name": "incident", "user_id": user, "user_name": user.lower(),
            "command": command, "text": text, "api_app_id": "A0BOT",
            "response_url": self.server.response_url(f"cmd-{len(self.responses)}"),
            "trigger_id": self.slack.new_trigger(),
        })

    def command(self, text: str, **kwargs: Any) -> BoltResponse:
        return self.dispatch(self.command_body(text, **kwargs))

    def open_modal(self, hub: str = HUB, *, user: str = REQUESTER, channel: str = CHANNEL,
                   kind: str = "failover") -> ModalView:
        self.command(f"{kind} {hub}", user=user, channel=channel)
        return list(self.slack.views.values())[-1]

    def submission_body(self, modal: ModalView, *, name: str, reason: str,
                        user: str = REQUESTER) -> str:
        values = {
            "confirm_hub_name": {"confirm_hub_name": {"type": "plain_text_input", "value": name}},
            "reason": {"reason": {"type": "plain_text_input", "value": reason}},
        }
        payload = {"type": "view_submission", "team": {"id": self.slack.team_id},
                   "user": {"id": user}, "api_app_id": "A0BOT",
                   "trigger_id": self.slack.new_trigger(),
                   "view": {**modal.view, "id": modal.id, "hash": modal.hash,
                            "state": {"values": values}}}
        return urlencode({"payload": json.dumps(payload)})

    def submit(self, modal: ModalView, *, name: str = HUB, reason: str = "INC-42 outage",
               user: str = REQUESTER) -> BoltResponse:
        return self.dispatch(self.submission_body(modal, name=name, reason=reason, user=user))

    def click_body(self, action_id: str, request_id: str, *, user: str = APPROVER,
                   channel: str = CHANNEL, message: Message | None = None) -> str:
        """A click on ``message``: by default the channel's message carrying a button of
        that value (as Slack would send it), else the channel's first message."""
        message = message or self.message_with_button(request_id, channel) \
            or self.approval_message(channel)
        thread = {"thread_ts": message.thread_ts} if message.thread_ts else {}
        payload = {
            "type": "block_actions", "team": {"id": self.slack.team_id},
            "user": {"id": user}, "api_app_id": "A0BOT", "trigger_id": self.slack.new_trigger(),
            "container": {"type": "message", "message_ts": message.ts, "channel_id": channel,
                          **thread},
            "channel": {"id": channel},
            "message": {"ts": message.ts, "blocks": message.blocks, **thread},
            "response_url": self.server.response_url(f"click-{len(self.responses)}"),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "decision",
                         "value": request_id, "action_ts": str(time.time())}],
        }
        return urlencode({"payload": json.dumps(payload)})

    def click(self, action_id: str, request_id: str, *, user: str = APPROVER,
              channel: str = CHANNEL, message: Message | None = None) -> BoltResponse:
        return self.dispatch(self.click_body(action_id, request_id, user=user, channel=channel,
                                             message=message))

    def message_with_button(self, value: str, channel: str = CHANNEL) -> Message | None:
        return next((m for m in reversed(self.slack.messages(channel))
                     if any(e.get("value") == value for b in m.blocks if b["type"] == "actions"
                            for e in b["elements"])), None)

    def request_and_submit(self, hub: str = HUB) -> str:
        """The happy path up to the approval message; returns the request id."""
        self.submit(self.open_modal(hub))
        return self.approval_buttons()["approve"]

    def approval_message(self, channel: str = CHANNEL) -> Message:
        return self.slack.messages(channel, top_level=True)[0]

    def approval_buttons(self, channel: str = CHANNEL) -> dict[str, str]:
        """action_id -> value of the buttons on the approval message (empty once decided)."""
        return {e["action_id"]: e["value"] for b in self.approval_message(channel).blocks
                if b["type"] == "actions" for e in b["elements"]}

    def audit(self, **filters: Any) -> list[AuditEvent]:
        """The audit log, newest first (at most 100 events)."""
        return self.service.reading.audit(AuditQuery(limit=100, **filters))

    def run_until_done(self, request_id: str, *, poll_every: timedelta,
                       rounds: int) -> None:
        """The real poller and Slack rate limiter, round after round on the fake clock, until
        the request has ended and every notice about it is sent."""
        outbox = RateLimitedNotifier(self.notifier, self.clock)
        poller = Poller(self.service, self.service.uow, outbox, self.clock, owner_id="test",
                        poll_interval=poll_every, lease_ttl=timedelta(minutes=5),
                        max_workers=1, rng=random.Random(1))
        for _ in range(rounds):
            poller.run_once()
            outbox.flush()
            request = self.service.reading.get_request(request_id)
            if request is not None and request.status.is_terminal and not outbox.backlog():
                return
            self.clock.advance(poll_every)
        raise AssertionError(f"{request_id} never finished")


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackServer]:
    with FakeSlackServer() as server:
        slack = server.slack
        for user, name in ((REQUESTER, "alice"), (APPROVER, "bob"), (BYSTANDER, "carol")):
            slack.add_user(user, name)
        for channel, name in ((CHANNEL, "incident"), (OTHER_CHANNEL, "random"),
                              (AUDIT_CHANNEL, "failover-audit")):
            slack.add_channel(channel, name)
        slack.add_usergroup(ONCALL_GROUP, [APPROVER])
        yield server


@pytest.fixture
def db_file_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    return url


MakeBot = Callable[..., Bot]


@pytest.fixture
def make_bot(fake_slack: FakeSlackServer, db_file_url: str) -> Iterator[MakeBot]:
    engines = []

    def build(*, time_scale: float = 1.0, verify: bool = False, **env: Any) -> Bot:
        """``verify``: every move verified from the fleet's metrics (BOT_VERIFY_*'s rules)."""
        values: dict[str, Any] = dict(
            slack_signing_secret=SECRET, slack_bot_token=fake_slack.slack.bot_token,
            slack_api_url=fake_slack.api_url, bot_approvers=ONCALL_GROUP,
            bot_allowed_channels=f"{CHANNEL},{AUDIT_CHANNEL}")
        values.update(env)
        settings = load_settings(**values)
        clock = FakeClock()
        gateway = SimulatedIotHubGateway(clock, speed=time_scale)
        gateway.add_hub(HUB, "westeurope", 1200)
        engine = make_engine(db_file_url)
        engines.append(engine)
        # As bootstrap wires it; time_scale is the sandbox's --speed.
        service = FailoverService(uow=unit_of_work_factory(engine), gateway=gateway, clock=clock,
                                  limits=scaled_limits(settings.limits, time_scale),
                                  access=settings.access, request_ttl=settings.bot_request_ttl,
                                  time_scale=time_scale, timeline=gateway.timeline,
                                  verify_rules=settings.verify_rules if verify else None,
                                  hub_metrics=gateway if verify else None,
                                  drill_hubs=frozenset(settings.bot_drill_hubs))
        client = make_web_client(fake_slack.slack.bot_token, fake_slack.api_url,
                                 sleep=lambda _: None)
        resolver = SlackActorResolver(client, settings.access.group_ids, clock=clock)
        notifier = SlackNotifier(client, service.notices, audit_channel=settings.bot_audit_channel)
        app = create_app(service, settings=settings, client=client, actor_resolver=resolver,
                         executor=SyncExecutor(), notifier=notifier)
        return Bot(app, fake_slack, service, gateway, clock, settings, notifier)

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def bot(make_bot: MakeBot) -> Bot:
    return make_bot()


# The world of a move verified end to end (ARM's hubs, metrics and consumers): its fixture.
from .verification_world import make_world  # noqa: E402, F401
