"""The hubs as Azure and the records show them: live state, quota, cool-down, estimates.

Quota and cool-down count the bot's own requests and, through the hub's history, what Azure's
Activity Log shows was done outside the bot (:mod:`bot.hub_history`); without it, own records only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.domain.model import HubState, OperationKind
from bot.domain.names import closest_names
from bot.domain.rules import Refusal, RefusalReason, estimate_duration
from bot.hub_history import ActivityRead, HubHistories, HubHistory
from bot.hubs.gateway import AmbiguousHub, GatewayError, HubNotFound
from bot.service.changes import azure_refusal
from bot.service.dependencies import ServiceDeps
from bot.store.base import UnitOfWork


class Hubs:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps
        self.histories = HubHistories(deps.activity, deps.clock, deps.limits)

    def estimate(self, device_count: int | None,
                 past: Sequence[timedelta] = ()) -> timedelta:
        """Expected duration on this bot's clock: Azure's figures divided by ``time_scale``
        (the hub's own history was measured on this clock already)."""
        scale = self.deps.time_scale
        return estimate_duration(device_count, [d * scale for d in past]) / scale

    def live_hub(self, name: str, *, with_device_count: bool = True) -> HubState | Refusal:
        try:
            ref = self.deps.gateway.resolve(name)
            return self.deps.gateway.get_state(ref, with_device_count=with_device_count)
        except HubNotFound:
            return Refusal(RefusalReason.HUB_NOT_FOUND,
                           f"No IoT Hub called `{name}` in the configured subscriptions."
                           f"{self.did_you_mean(name)} `/iothub list` shows the hubs I can see.")
        except AmbiguousHub as exc:
            where = ", ".join(f"{c.subscription_id}/{c.resource_group}" for c in exc.candidates)
            return Refusal(RefusalReason.HUB_AMBIGUOUS,
                           f"Several hubs are called `{name}` ({where}); I will not guess.")
        except GatewayError as exc:
            return azure_refusal(exc)

    def did_you_mean(self, name: str) -> str:
        """The closest visible hub names (a typo in an incident is the usual cause)."""
        try:
            close = closest_names(name, (h.name for h in self.deps.gateway.list_hubs()))
        except GatewayError:
            return ""
        if not close:
            return ""
        return " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"

    def read_history(self, hub: HubState, since: datetime | None = None) -> ActivityRead:
        return self.histories.read(hub.ref, hub.next_kind is OperationKind.FAILOVER, since)

    def quota_refusal(self, uow: UnitOfWork, hub: str, kind: OperationKind,
                      history: HubHistory | None = None) -> Refusal | None:
        return self.histories.quota_refusal(uow, hub, kind, history or HubHistory())

    def quota_left(self, uow: UnitOfWork, hub: str, kind: OperationKind,
                   history: HubHistory | None = None) -> int:
        return self.histories.quota_left(uow, hub, kind, history or HubHistory())

    def failback_allowed_at(self, uow: UnitOfWork, hub: str,
                            history: HubHistory | None = None) -> datetime | None:
        return self.histories.failback_allowed_at(uow, hub, history or HubHistory())
