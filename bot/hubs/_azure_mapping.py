"""Read ARM's answers (hub descriptions, async-operation bodies) into domain values."""

from __future__ import annotations

import re
from typing import Any

from bot.domain.consumers import consumers_of
from bot.domain.drill import marked_for_drills
from bot.domain.model import HubRef, HubState, priority_from_tags
from bot.hubs.gateway import OperationPoll, OperationState

_RESOURCE_ID = re.compile(r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/", re.IGNORECASE)

_RUNNING = {"running", "inprogress", "accepted", "notstarted", "started", "updating"}
_SUCCEEDED = {"succeeded"}


def ref_from_id(resource_id: str, name: str, default_subscription: str) -> HubRef:
    """The hub's subscription and resource group, parsed from its ARM id."""
    found = _RESOURCE_ID.search(resource_id or "")
    if not found:
        return HubRef(name, default_subscription, "")
    return HubRef(name, found.group(1), found.group(2))


def _role(locations: list[Any] | None, role: str) -> str | None:
    for entry in locations or []:
        if (entry.role or "").lower() == role:
            return str(entry.location)
    return None


def hub_state(description: Any, ref: HubRef, device_count: int | None = None) -> HubState:
    """An ``IotHubDescription`` as a :class:`HubState`.

    The top-level ``location`` is the home region and never changes; the ``primary`` entry of
    ``properties.locations`` is where the hub runs now, the ``secondary`` where it would go.
    """
    props = description.properties
    home = str(description.location or "")
    locations = props.locations if props else None
    active = _role(locations, "primary") or home
    target = _role(locations, "secondary") or ""
    tags = getattr(description, "tags", None)
    tags = tags if isinstance(tags, dict) else None
    endpoint = None
    if props and props.event_hub_endpoints and "events" in props.event_hub_endpoints:
        endpoint = props.event_hub_endpoints["events"].endpoint
    return HubState(
        ref=ref,
        home_region=home,
        active_region=active,
        target_region=target,
        state=str(props.state or "") if props else "",
        provisioning_state=str(props.provisioning_state or "") if props else "",
        host_name=str(props.host_name or "") if props else "",
        event_hub_endpoint=endpoint,
        device_count=device_count,
        priority=priority_from_tags(tags),
        consumers=consumers_of(tags, ref),
        drill_tagged=marked_for_drills(ref.name, tags, ()),
    )


def operation_poll(body: dict[str, Any], retry_after: float | None) -> OperationPoll:
    """An Azure-AsyncOperation status body as an :class:`OperationPoll`."""
    status = str(body.get("status") or "").lower()
    if status in _RUNNING or not status:
        return OperationPoll(OperationState.RUNNING, retry_after=retry_after)
    if status in _SUCCEEDED:
        return OperationPoll(OperationState.SUCCEEDED)
    error = body.get("error") or {}
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if status in ("canceled", "cancelled"):
        return OperationPoll(OperationState.FAILED, error_code="Canceled",
                             error_message=message or "Azure cancelled the operation.")
    return OperationPoll(
        OperationState.FAILED,
        error_code=code or body.get("status") or "Failed",
        error_message=message or f"Azure reported the operation as {body.get('status')}.",
    )
