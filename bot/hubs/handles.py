"""Operation handles that are not Azure URLs: ``hubstate:`` handles tracked by reading the hub
(the Azure gateway uses them after a lost answer, the simulated fleet always)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.model import HubRef, HubState
from bot.domain.regions import region_key, same_region
from bot.hubs.gateway import GatewayError, OperationPoll, OperationState

HUBSTATE_PREFIX = "hubstate:"


@dataclass(frozen=True)
class HubStateHandle:
    """"Watch this hub until it is Active in ``target``": for a start whose answer was lost."""

    ref: HubRef
    target_region: str

    def __str__(self) -> str:
        ref = self.ref
        return (f"{HUBSTATE_PREFIX}{ref.subscription_id}/{ref.resource_group}/{ref.name}/"
                f"{region_key(self.target_region)}")

    @classmethod
    def parse(cls, handle: str) -> HubStateHandle | None:
        if not handle.startswith(HUBSTATE_PREFIX):
            return None
        parts = handle[len(HUBSTATE_PREFIX):].split("/")
        if len(parts) != 4 or not all(parts):
            raise GatewayError(f"Malformed operation handle {handle!r}.",
                               code="InvalidOperationHandle")
        subscription, group, name, target = parts
        return cls(HubRef(name, subscription, group), target)


def poll_from_state(hub: HubState, target_region: str) -> OperationPoll:
    """What a hub's state says about a failover towards ``target_region``."""
    if same_region(hub.active_region, target_region) and hub.is_ready:
        return OperationPoll(OperationState.SUCCEEDED)
    if hub.is_ready:
        return OperationPoll(
            OperationState.FAILED,
            error_code="FailoverNotCompleted",
            error_message=(f"`{hub.name}` is Active in {hub.active_display} again, not in "
                           f"{target_region}: the failover did not complete."),
        )
    if hub.provisioning_state.lower() == "failed" or hub.state.lower().endswith("failed"):
        return OperationPoll(
            OperationState.FAILED,
            error_code=hub.state or hub.provisioning_state,
            error_message=(f"`{hub.name}` is {hub.state} (provisioning "
                           f"{hub.provisioning_state})."),
        )
    return OperationPoll(OperationState.RUNNING)


def started_towards(hub: HubState, target_region: str) -> bool:
    """After an unanswered start: does the hub show that Azure took the request?"""
    return not hub.is_ready or same_region(hub.active_region, target_region)
