"""The use cases as a process wires them (``bot.bootstrap.bootstrap``), over a store the test
chooses (the fake for the unit tier, SQL for integration), the simulated fleet and a fake
clock; with the steps the service tests take: ask, decide, start, follow to the end, read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.bootstrap import bootstrap
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal
from bot.hubs.gateway import IotHubGateway
from bot.service import FailoverService, FieldErrors, Observation, SubmitFailover, Submitted
from bot.store.base import AuditQuery, UnitOfWork
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

REQUESTER, APPROVER, OUTSIDER = Actor("U_REQ"), Actor("U_APP"), Actor("U_OUT")
CHANNEL = "C_INCIDENT"
HUB = "contoso-weu"
POLL = timedelta(seconds=30)


@dataclass
class World:
    clock: FakeClock
    gateway: SimulatedIotHubGateway  # the fleet itself: faults, calls, outside operations
    service: FailoverService

    def submit(self, kind: OperationKind | None = None, *, hub: str = HUB,
               typed: str | None = None, reason: str = "INC-42 West Europe outage",
               actor: Actor = REQUESTER) -> Submitted | FieldErrors | Refusal:
        """Submit the dialog as a person would, for the hub's next move unless ``kind``."""
        state = self.gateway.get_state(self.gateway.resolve(hub), with_device_count=False)
        return self.service.asking.submit(SubmitFailover(
            actor=actor, channel_id=CHANNEL, hub_name=hub, kind=kind or state.next_kind,
            typed_name=hub if typed is None else typed, reason=reason,
            expected_active_region=state.active_region))

    def request_id(self, kind: OperationKind | None = None, *, hub: str = HUB) -> str:
        result = self.submit(kind, hub=hub)
        assert isinstance(result, Submitted), result
        return result.request.id

    def request(self, request_id: str) -> FailoverRequest:
        request = self.service.reading.get_request(request_id)
        assert request is not None
        return request

    def observe_until_end(self, request_id: str, step: timedelta = POLL) -> Observation:
        for _ in range(500):
            seen = self.service.observing.observe(request_id)
            assert seen is not None
            if seen.finished:
                return seen
            self.clock.advance(step)
        raise AssertionError("never finished")

    def run_to_end(self, request_id: str) -> FailoverRequest:
        """Approve, start and poll until Azure (simulated) is done."""
        assert self.service.deciding.approve(APPROVER, request_id).ok
        started = self.service.starting.start(request_id)
        assert started is not None and started.status is RequestStatus.RUNNING
        return self.observe_until_end(request_id, timedelta(minutes=1)).request

    def running_without_a_handle(self, request_id: str) -> None:
        """An approved request as a crash after its audit row and before Azure answered
        leaves it: running, no handle, no lease, and Azure never got the POST."""
        with self.service.uow() as uow:
            approved = uow.requests.get(request_id)
            assert approved is not None
            running = approved.start(self.clock.now(),
                                     approved.next_poll_at or self.clock.now())
            assert uow.requests.save(running.request, approved.version)
            uow.commit()

    def actions(self, **query: Any) -> list[AuditAction]:
        return [e.action for e in self.service.reading.audit(AuditQuery(limit=500, **query))]


def build_world(uow: Callable[[], UnitOfWork], *,
                seen_through: Callable[[SimulatedIotHubGateway], IotHubGateway] | None = None,
                **settings: Any) -> World:
    """The service as ``bootstrap`` builds it from ``Settings(**settings)`` (no ``.env`` read)
    over ``uow`` and the simulated fleet (``seen_through`` a wrapper, if given); add hubs to
    ``world.gateway``."""
    clock = FakeClock()
    fleet = SimulatedIotHubGateway(clock)
    gateway = seen_through(fleet) if seen_through else fleet
    components = bootstrap(Settings(_env_file=None, **settings),  # type: ignore[call-arg]
                           clock=clock, gateway=gateway, uow=uow)
    return World(clock, fleet, components.service)
