"""A fleet of simulated IoT Hubs that behaves as Azure does, for the sandbox, tests and benchmarks.

Azure's rules are enforced with the errors the real gateway raises: two successful failovers
and two failbacks per hub per rolling 24 h, a failback only about an hour after a failover,
one operation at a time, only on an Active hub. A failover lasts as long as Azure's documented
figures say for the hub's device count, divided by ``speed``, measured on the injected clock;
the failback cool-down is divided by ``speed`` too (the daily limits are not).
Azure Monitor's minutes are on Azure's ``timeline``, ``speed`` times faster from the fleet's
creation on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.consumers import consumers_of
from bot.domain.drill import marked_for_drills
from bot.domain.history import ActivityOperation
from bot.domain.model import PRIORITY_TAG, HubRef, HubState, OperationKind, priority_from_tags
from bot.domain.regions import display_name, same_region
from bot.domain.rules import check_hub_name, estimate_duration
from bot.domain.verification import MINUTE
from bot.hubs.directory import find_hub
from bot.hubs.gateway import (
    Forbidden,
    GatewayError,
    HubNotFound,
    LimitReached,
    OperationConflict,
    OperationPoll,
    Throttled,
    TransientError,
)
from bot.hubs.handles import HubStateHandle, poll_from_state, started_towards
from failover_sandbox.fleet._fleet import (
    DEFAULT_FLEET,
    PORTAL_FAILOVER,
    SUSPENDED_HUB,
    generated_hubs,
)
from failover_sandbox.fleet._geo_pairs import paired_region
from failover_sandbox.fleet._metrics import hub_traffic
from failover_sandbox.fleet._model import (
    SIM_BOT_CALLER,
    SimHub,
    SimOperation,
    find_sim_hub,
    jittered,
    seeded_rng,
)
from failover_sandbox.fleet._services import MonitorAndConsumers

DEFAULT_SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
_SIM_PREFIX = "sim:"
_DAILY_LIMIT = 2
_FAILBACK_COOLDOWN = timedelta(hours=1)


class SimulatedIotHubGateway(MonitorAndConsumers):
    """:class:`~bot.hubs.gateway.IotHubGateway` over an in-memory fleet, with the Azure
    gateway's metrics and consumer restarts (:class:`MonitorAndConsumers`); thread-safe.

    ``calls`` counts the IoT Hub requests the real gateway would have made, by method
    (``get_state`` with a device count also counts a ``get_stats``).
    """

    def __init__(self, clock: Clock, *, speed: float = 1.0, seed: int = 7,
                 metrics_late: timedelta = MINUTE) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        super().__init__(clock, speed=speed, seed=seed, metrics_late=metrics_late)
        self.calls: Counter[str] = Counter()
        self._seed = seed
        self._hubs: list[SimHub] = []
        self._operations: dict[str, SimOperation] = {}
        self._ids = seeded_rng(f"{seed}:ids")
        self.activity_error: GatewayError | None = None  # set: Activity Log reads fail so

    @classmethod
    def default_fleet(cls, clock: Clock, *, speed: float = 1.0, seed: int = 7,
                      with_history: bool = False) -> SimulatedIotHubGateway:
        """Realistic hubs across geo-pairs, 1k to 2M devices, a dozen of them in West Europe;
        ``with_history`` (what the sandbox shows): one of them was failed over in the Azure
        portal an hour ago, and one is Suspended."""
        gateway = cls(clock, speed=speed, seed=seed)
        for hub in DEFAULT_FLEET:
            gateway.add_hub(hub.name, hub.home, hub.devices, subscription_id=hub.subscription,
                            resource_group=hub.group, priority=hub.priority, tags=hub.tags,
                            recovers_to=hub.recovers_to)
        if with_history:
            name, caller, ago = PORTAL_FAILOVER
            gateway.outside_failover(name, caller=caller, client="Azure portal", ago=ago)
            gateway.set_hub_state(SUSPENDED_HUB, "Suspended")
        return gateway

    def generate_fleet(self, n: int) -> list[HubRef]:
        """Add ``n`` hubs with varied regions and device counts (for benchmarks)."""
        rng = seeded_rng(f"{self._seed}:fleet:{len(self._hubs)}")
        return [self.add_hub(name, home, devices, subscription_id=subscription,
                             resource_group=group)
                for name, home, devices, subscription, group in generated_hubs(n, rng)]

    def add_hub(self, name: str, home: str, devices: int = 0, *,
                subscription_id: str = DEFAULT_SUBSCRIPTION,
                resource_group: str | None = None, secondary: str | None = None,
                priority: int | None = None, tags: Mapping[str, str] | None = None,
                recovers_to: float = 1.0) -> HubRef:
        """Create an Active hub in ``home``; it fails over to ``home``'s pair (``secondary=""``:
        none, a data-residency region). ``tags``: its Azure tags (``failover-bot-consumers``…);
        ``priority``: its ``failover-priority`` tag (over one in ``tags``); ``recovers_to``: the
        share of its devices that reconnect after a move (0.4: only 40 %, for good)."""
        if check_hub_name(name) is not None:
            raise ValueError(f"invalid IoT Hub name {name!r}")
        ref = HubRef(name, subscription_id, resource_group or f"rg-{name}")
        all_tags = dict(tags or {}) | ({} if priority is None else {PRIORITY_TAG: str(priority)})
        # Its own generator: drawing from the hub's would change its endpoints and durations.
        traffic = hub_traffic(devices, recovers_to, seeded_rng(f"{self._seed}:{ref}:metrics"))
        with self._lock:
            if any(h.ref == ref for h in self._hubs):
                raise ValueError(f"hub {name!r} already exists in {ref.resource_group}")
            pair = paired_region(home) if secondary is None else secondary
            hub = SimHub(ref, display_name(home), display_name(pair) if pair else "",
                         devices, seeded_rng(f"{self._seed}:{ref}"),
                         priority=priority_from_tags(all_tags),
                         consumers=consumers_of(all_tags, ref), traffic=traffic,
                         drill_tagged=marked_for_drills(name, all_tags, ()))
            self._hubs.append(hub)
        return ref

    def set_hub_state(self, name: str, state: str, provisioning_state: str = "Succeeded") -> None:
        """Put a hub in a state of Azure's own making (e.g. ``Suspended``)."""
        with self._lock:
            self._hub_named(name).state = (state, provisioning_state)

    def outside_failover(self, name: str, *, caller: str, client: str | None = "Azure portal",
                         ago: timedelta = timedelta(0)) -> None:
        """Someone fails the hub over (or back) outside the bot, starting ``ago`` before now;
        Azure's rules apply and the Activity Log records it under ``caller``."""
        with self._lock:
            hub = self._hub_named(name)
            now = self.clock.now()
            hub.settle(now)
            op = self._begin(hub, hub.passive, at=now - ago)
            op.caller, op.client = caller, client
            hub.settle(now)

    # -- the Activity Log (bot.hubs.activity.ActivityLogReader) ---------------------------

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        with self._lock:
            self.calls["activity_log"] += 1
            if self.activity_error is not None:
                raise self.activity_error
            hub = self._hub(ref)
            hub.settle(self.clock.now())
            return sorted((op.activity() for op in self._operations.values()
                           if op.ref == hub.ref and op.started_at >= since),
                          key=lambda op: op.started_at)

    # -- the gateway protocol ----------------------------------------------------------

    def list_hubs(self) -> list[HubState]:
        with self._lock:
            self._call("list_hubs", None)
            now = self.clock.now()
            for hub in self._hubs:
                hub.settle(now)
            return [hub.view(now, device_count=None) for hub in self._hubs]

    def resolve(self, name: str) -> HubRef:
        with self._lock:
            self._call("resolve", None)
            ref = find_hub([h.view(self.clock.now(), device_count=None) for h in self._hubs],
                           name)
        if ref is None:
            raise HubNotFound(f"No IoT hub called `{name}` in the configured subscriptions.",
                              code="HubNotFound")
        return ref

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        with self._lock:
            self._call("get_state", ref.name)
            hub = self._hub(ref)
            now = self.clock.now()
            hub.settle(now)
            if with_device_count:
                self.calls["get_stats"] += 1
            return hub.view(now, device_count=hub.devices if with_device_count else None)

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        with self._lock:
            self._call("start_failover", ref.name)
            hub = self._hub(ref)
            hub.settle(self.clock.now())
            denied = self._fault(ref.name, "deny")
            if denied:
                raise Forbidden(
                    f"The client does not have authorization to perform action "
                    f"'{denied.deny}' over scope '{ref.resource_group}/{ref.name}'.",
                    code="AuthorizationFailed", permission=denied.deny)
            dropped = self._fault(ref.name, "drop_start")
            if dropped:
                dropped.drop_start = False
            else:
                op = self._begin(hub, target_region)
                op.caller = SIM_BOT_CALLER
                lost = self._fault(ref.name, "timeout_on_start")
                if not lost:
                    return _SIM_PREFIX + op.id
                lost.timeout_on_start = False
        # Like the Azure gateway: a start without an answer is re-read, never repeated.
        hub_now = self.get_state(ref, with_device_count=False)
        if started_towards(hub_now, target_region):
            return str(HubStateHandle(ref, target_region))
        raise TransientError(
            f"Azure did not answer the failover request for `{ref.name}`, and the hub is still "
            f"Active in {hub_now.active_display}: the failover was NOT started. "
            "It is safe to try again.", code="FailoverNotStarted")

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        by_state = HubStateHandle.parse(handle)
        with self._lock:
            self._call("poll", ref.name)
            throttled = self._fault(ref.name, "throttle_polls")
            if throttled:
                throttled.throttle_polls -= 1
                raise Throttled("Number of read requests for subscription exceeded the limit.",
                                code="TooManyRequests", retry_after=throttled.retry_after)
            now = self.clock.now()
            if by_state is not None:
                hub = self._hub(by_state.ref)
                hub.settle(now)
                return poll_from_state(hub.view(now, device_count=None), by_state.target_region)
            op = self._operations.get(handle.removeprefix(_SIM_PREFIX))
            if op is None or not handle.startswith(_SIM_PREFIX):
                raise HubNotFound(f"Operation '{handle}' was not found.",
                                  code="OperationNotFound")
            self._hub(op.ref).settle(now)
            return op.poll()

    # -- Azure's rules -----------------------------------------------------------------

    def _begin(self, hub: SimHub, target_region: str, *,
               at: datetime | None = None) -> SimOperation:
        now = at or self.clock.now()
        name = hub.ref.name
        state, provisioning = hub.state
        if hub.operation is not None or (state, provisioning) != ("Active", "Succeeded"):
            shown = "FailingOver" if hub.operation is not None else state
            raise OperationConflict(f"IotHub '{name}' is not active: state is {shown}.",
                                    code="IotHubNotActive")
        if not same_region(target_region, hub.passive):
            raise GatewayError(f"Failover region '{target_region}' is not the paired region "
                               "of the hub.", code="InvalidFailoverRegion")
        kind = hub.next_kind
        if len(hub.successes_since(kind, now - timedelta(hours=24))) >= _DAILY_LIMIT:
            raise LimitReached(
                f"{kind.value.capitalize()} is not allowed: IotHub '{name}' has reached the "
                f"limit of {_DAILY_LIMIT} {kind.value}s in 24 hours.", code="FailoverLimitReached")
        last_failover = hub.last_failover_completed()
        if (kind is OperationKind.FAILBACK and last_failover is not None
                and now < last_failover + _FAILBACK_COOLDOWN / self.speed):  # Azure's hour, sped up
            raise LimitReached(
                f"Failback is not allowed yet: IotHub '{name}' failed over at "
                f"{last_failover:%H:%M} UTC; a failback is allowed an hour after a failover.",
                code="FailbackNotAllowed")
        duration = jittered(estimate_duration(hub.devices), hub.rng) / self.speed
        slow, fails_with = timedelta(0), None
        if slowed := self._fault(hub.ref.name, "slow_start"):
            slow, slowed.slow_start = timedelta(seconds=slowed.slow_start), 0.0
        if failing := self._fault(hub.ref.name, "fail_next_with"):
            fails_with, failing.fail_next_with = failing.fail_next_with, None
        op = SimOperation(id=f"{self._ids.getrandbits(64):016x}", ref=hub.ref, kind=kind,
                          target=hub.passive, started_at=now, visible_at=now + slow,
                          ends_at=now + slow + duration, fails_with=fails_with)
        hub.operation = op
        hub.operations.append(op)
        self._operations[op.id] = op
        return op

    # -- helpers -------------------------------------------------------------------------

    def _call(self, method: str, hub: str | None) -> None:
        self.calls[method] += 1
        failing = self._fault(hub, "transient_errors")
        if failing:
            failing.transient_errors -= 1
            raise TransientError("The service is temporarily unavailable.",
                                 code="ServiceUnavailable")

    def _hub(self, ref: HubRef) -> SimHub:
        return find_sim_hub(self._hubs, ref)

    def _hub_named(self, name: str) -> SimHub:
        ref = find_hub([h.view(self.clock.now(), device_count=None) for h in self._hubs], name)
        if ref is None:
            raise HubNotFound(f"No IoT hub called `{name}`.", code="HubNotFound")
        return self._hub(ref)
