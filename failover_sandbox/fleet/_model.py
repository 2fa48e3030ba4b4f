"""The simulated fleet's hubs and operations, and how time moves them on."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.consumers import HubConsumers
from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, HubState, OperationKind
from bot.domain.regions import region_key, same_region
from bot.domain.timeline import Timeline
from bot.hubs.gateway import HubNotFound, OperationPoll, OperationState
from failover_sandbox.fleet._metrics import Move, Traffic

# What Azure shows while a failover runs.
RUNNING_STATE = ("FailingOver", "Activating")
# The bot's own identity in the simulated Activity Log (a managed identity's principal id).
SIM_BOT_CALLER = "9d3f1a52-7c1e-4f0a-b6f4-5e2a8c0d1b7e"


@dataclass
class SimOperation:
    id: str
    ref: HubRef
    kind: OperationKind
    target: str
    started_at: datetime
    visible_at: datetime
    ends_at: datetime
    fails_with: tuple[str, str] | None = None
    outcome: OperationState = OperationState.RUNNING
    caller: str = ""  # who asked, as the Activity Log names them
    client: str | None = None  # the tool they used ("Azure portal"), if a well-known one

    def activity(self) -> ActivityOperation:
        """This operation as Azure's Activity Log shows it."""
        status = {OperationState.RUNNING: "Accepted", OperationState.SUCCEEDED: "Succeeded",
                  OperationState.FAILED: "Failed"}[self.outcome]
        ended = self.ends_at if self.outcome is not OperationState.RUNNING else None
        return ActivityOperation(operation_id=self.id, correlation_id=self.id,
                                 caller=self.caller, started_at=self.started_at,
                                 status=status, ended_at=ended, client=self.client)

    def poll(self) -> OperationPoll:
        if self.outcome is OperationState.FAILED and self.fails_with:
            code, message = self.fails_with
            return OperationPoll(OperationState.FAILED, error_code=code, error_message=message)
        return OperationPoll(self.outcome)


@dataclass(frozen=True)
class Completed:
    """A successful operation, as Azure counts it against the daily limits."""

    kind: OperationKind
    started_at: datetime
    completed_at: datetime


@dataclass
class SimHub:
    ref: HubRef
    home: str
    secondary: str
    devices: int
    rng: random.Random
    active: str = ""
    endpoint: str = ""
    state: tuple[str, str] = ("Active", "Succeeded")
    operation: SimOperation | None = None
    history: list[Completed] = field(default_factory=list)
    priority: int | None = None  # the hub's failover-priority tag
    consumers: HubConsumers | None = None  # what its failover-bot-consumers tags declare
    drill_tagged: bool = False  # its failover-bot-drill tag is "allowed"
    traffic: Traffic | None = None  # how it shows in Azure Monitor
    operations: list[SimOperation] = field(default_factory=list)  # every one ever begun

    def __post_init__(self) -> None:
        self.active = self.active or self.home
        self.endpoint = self.endpoint or self.new_endpoint()

    @property
    def passive(self) -> str:
        return self.secondary if same_region(self.active, self.home) else self.home

    @property
    def next_kind(self) -> OperationKind:
        if same_region(self.active, self.home):
            return OperationKind.FAILOVER
        return OperationKind.FAILBACK

    def new_endpoint(self) -> str:
        """Event Hub-compatible endpoints get a new namespace on every failover."""
        suffix = f"{self.rng.randrange(10**6)}-{self.rng.getrandbits(40):010x}"
        return f"sb://iothub-ns-{self.ref.name[:12]}-{suffix}.servicebus.windows.net/"

    def settle(self, now: datetime) -> None:
        """Finish the running operation if its time has come."""
        op = self.operation
        if op is None or now < op.ends_at:
            return
        self.operation = None
        if op.fails_with:
            op.outcome = OperationState.FAILED
            return
        op.outcome = OperationState.SUCCEEDED
        self.active = op.target
        self.endpoint = self.new_endpoint()
        self.history.append(Completed(op.kind, op.started_at, op.ends_at))

    def view(self, now: datetime, *, device_count: int | None) -> HubState:
        state, provisioning = self.state
        if self.operation is not None and now >= self.operation.visible_at:
            state, provisioning = RUNNING_STATE
        return HubState(
            ref=self.ref,
            home_region=region_key(self.home),
            active_region=self.active,
            target_region=self.passive,
            state=state,
            provisioning_state=provisioning,
            host_name=f"{self.ref.name}.azure-devices.net",
            event_hub_endpoint=self.endpoint,
            device_count=device_count,
            priority=self.priority,
            consumers=self.consumers,
            drill_tagged=self.drill_tagged,
        )

    def moves(self, timeline: Timeline) -> list[Move]:
        """Its operations on Azure's timeline, for its metrics."""
        return [Move(timeline.azure(op.started_at), timeline.azure(op.ends_at))
                for op in self.operations]

    def successes_since(self, kind: OperationKind, since: datetime) -> list[Completed]:
        return [c for c in self.history if c.kind is kind and c.started_at >= since]

    def last_failover_completed(self) -> datetime | None:
        done = [c.completed_at for c in self.history if c.kind is OperationKind.FAILOVER]
        return max(done) if done else None


def find_sim_hub(hubs: list[SimHub], ref: HubRef) -> SimHub:
    """The hub at ``ref`` (Azure's names are case-insensitive), or Azure's 404."""
    for hub in hubs:
        if hub.ref.name.lower() == ref.name.lower() and (
                hub.ref.subscription_id, hub.ref.resource_group.lower()) == (
                ref.subscription_id, ref.resource_group.lower()):
            return hub
    raise HubNotFound(f"The Resource 'Microsoft.Devices/IotHubs/{ref.name}' under resource "
                      f"group '{ref.resource_group}' was not found.", code="ResourceNotFound")


def seeded_rng(seed: str) -> random.Random:
    """Reproducible randomness for the simulation (not for anything secret)."""
    return random.Random(seed)  # noqa: S311


def jittered(duration: timedelta, rng: random.Random) -> timedelta:
    """Real failovers vary: ±15 % around the documented mean, reproducible from the seed."""
    return duration * rng.uniform(0.85, 1.15)
