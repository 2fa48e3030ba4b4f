"""The bot never offers an operation Azure would refuse for its limits, whoever else fails the
hub over: random days of portal and bot operations against the simulated fleet (which applies
Azure's rules to every operation, the bot's and the outside ones alike)."""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.clock import FakeClock
from bot.domain.policy import Actor
from bot.domain.request import RequestStatus
from bot.hubs.gateway import LimitReached, OperationConflict
from bot.service import FailoverService, Preview, SubmitFailover, Submitted
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from tests.support.fake_store import FakeStore
from tests.support.service_world import build_world

HUB = "contoso-weu"
REQUESTER, APPROVER = Actor("U_REQ"), Actor("U_APP")
AZURE_LIMIT_CODES = {"FailoverLimitReached", "FailbackNotAllowed"}

steps = st.lists(st.tuples(st.sampled_from(["portal", "bot"]),
                           st.integers(min_value=1, max_value=8 * 60)),  # minutes after
                 min_size=1, max_size=10)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps)
def test_what_the_bot_offers_azure_accepts(day: list[tuple[str, int]]) -> None:
    world = build_world(FakeStore(), bot_approvers="U_APP",
                        bot_activity_log_ttl=timedelta(seconds=60))
    fleet, clock = world.gateway, world.clock
    fleet.add_hub(HUB, "West Europe", devices=1_000)  # about 8 minutes an operation
    for who, wait in day:
        if who == "portal":
            # Azure may say no to the portal too: then nothing happened.
            with suppress(LimitReached, OperationConflict):
                fleet.outside_failover(HUB, caller="oncall@contoso.com")
        else:
            _bot_operation(world.service, fleet, clock)
        clock.advance(timedelta(minutes=wait))


def _bot_operation(service: FailoverService, fleet: SimulatedIotHubGateway,
                   clock: FakeClock) -> None:
    hub = fleet.get_state(fleet.resolve(HUB), with_device_count=False)
    preview = service.asking.preview(REQUESTER, "C1", HUB, hub.next_kind)
    if not isinstance(preview, Preview):
        return  # refused before anything was asked of Azure: fine
    submitted = service.asking.submit(SubmitFailover(REQUESTER, "C1", HUB, hub.next_kind, HUB,
                                              "INC-1", hub.active_region))
    assert isinstance(submitted, Submitted), submitted
    request_id = submitted.request.id
    assert service.deciding.approve(APPROVER, request_id).ok
    started = service.starting.start(request_id)
    assert started is not None
    assert started.error_code not in AZURE_LIMIT_CODES, started.error_message
    for _ in range(60):
        if started.status is not RequestStatus.RUNNING:
            break
        clock.advance(timedelta(minutes=1))
        seen = service.observing.observe(request_id)
        assert seen is not None
        started = seen.request
    assert started.status is RequestStatus.SUCCEEDED, started
