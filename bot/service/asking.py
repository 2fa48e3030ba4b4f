"""Asking for a failover: the preview behind the confirmation modal, and the submission."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.consumers import HubConsumers
from bot.domain.drill import DrillAsk, new_drill_id
from bot.domain.model import HubState, OperationKind
from bot.domain.policy import Actor
from bot.domain.regions import same_region
from bot.domain.request import FailoverRequest, RequestStatus, new_request_id
from bot.domain.rules import (
    Refusal,
    RefusalReason,
    check_confirmation,
    check_direction,
    check_hub_name,
    check_open_request,
    check_ready,
)
from bot.hub_history import HubHistory
from bot.service.deciding import mark_approved
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.store.base import HubLocked, UnitOfWork

AUTO_APPROVER = "policy:auto"


@dataclass(frozen=True)
class Preview:
    """What the confirmation modal shows before anything is written."""

    hub: HubState
    kind: OperationKind
    estimate: timedelta
    quota_left: int
    quota_limit: int
    failback_allowed_at: datetime | None
    quota_detail: str = ""  # where the count comes from: this bot, the portal, …
    history_note: str | None = None  # set when Azure's Activity Log could not be read


@dataclass(frozen=True)
class SubmitFailover:
    actor: Actor
    channel_id: str
    hub_name: str
    kind: OperationKind
    typed_name: str
    reason: str
    expected_active_region: str
    # Names this submission (the modal's view id): a re-run of it finds its earlier result.
    key: str | None = None
    cleaned: Mapping[str, str] = field(default_factory=dict)  # input -> what cleaning removed
    drill: DrillAsk | None = None  # asks for a drill: this is its failover leg


@dataclass(frozen=True)
class Submitted:
    request: FailoverRequest


@dataclass(frozen=True)
class FieldErrors:
    """Inline errors for the modal, keyed by input (``confirm_hub_name``, ``reason``)."""

    errors: dict[str, str]


class DrillHook(Protocol):
    """What a drill's submission adds to a failover's (``bot.service.drill_asking``)."""

    def refusal(self, uow: UnitOfWork, hub: HubState,
                history: HubHistory) -> Refusal | None: ...

    def add(self, uow: UnitOfWork, request: FailoverRequest, ask: DrillAsk) -> object: ...


class Asking:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals) -> None:
        self.deps, self.hubs, self.refusals = deps, hubs, refusals
        self.drills: DrillHook | None = None

    def preview(self, actor: Actor, channel_id: str, hub_name: str,
                kind: OperationKind) -> Preview | Refusal:
        """Check everything that can be checked before the modal, and gather what it shows."""
        refusal = self.deps.access.check_requester(actor, channel_id) or check_hub_name(hub_name)
        if refusal:
            return self.refusals.refuse(refusal, actor.user_id, hub_name, kind)
        hub = self.hubs.live_hub(hub_name)
        if isinstance(hub, Refusal):
            return self.refusals.refuse(hub, actor.user_id, hub_name, kind)
        read = self.hubs.read_history(hub)
        with self.deps.uow() as uow:
            history = self.hubs.histories.merge(uow, read)
            # A running or open operation first: it explains a busy hub or a changed direction.
            refusal = (check_open_request(uow.requests.open_for_hub(hub.name))
                       or check_direction(kind, hub) or check_ready(hub)
                       or self.hubs.quota_refusal(uow, hub.name, kind, history))
            durations = uow.requests.recent_durations(hub.name)
            quota_left = self.hubs.quota_left(uow, hub.name, kind, history)
            failback_at = self.hubs.failback_allowed_at(uow, hub.name, history)
        self.hubs.histories.record_observed(self.deps.uow, hub.name, history)
        if refusal:
            return self.refusals.refuse(refusal, actor.user_id, hub.name, kind)
        return Preview(hub, kind, self.hubs.estimate(hub.device_count, durations), quota_left,
                       self.deps.limits.daily_limit(kind), failback_at,
                       quota_detail=history.detail(kind), history_note=history.unavailable)

    def submit(self, cmd: SubmitFailover) -> Submitted | FieldErrors | Refusal:
        """Write the confirmed request; approve it at once when approval is not required.

        With a ``key``, submitting again (the work was re-run after a crash) returns the
        request the first submission wrote, if it got that far.
        """
        earlier = self._submitted_before(cmd)
        if earlier is not None:
            return Submitted(earlier)
        result = self._submit(cmd)
        if cmd.cleaned:  # what people typed was changed before use: the audit says how
            request = result.request.id if isinstance(result, Submitted) else None
            self.refusals.record_cleaned(cmd.cleaned, cmd.actor.user_id, cmd.hub_name,
                                         cmd.kind, request_id=request)
        return result

    def _submit(self, cmd: SubmitFailover) -> Submitted | FieldErrors | Refusal:
        errors = check_confirmation(cmd.hub_name, cmd.typed_name, cmd.reason)
        nobody = self.deps.access.check_approvable(cmd.actor)
        if nobody:
            errors = {**errors, "confirm_hub_name": nobody}
        if errors:
            for error in errors.values():
                self.refusals.refuse(error, cmd.actor.user_id, cmd.hub_name, cmd.kind)
            return FieldErrors({key: r.message for key, r in errors.items()})
        refusal = self.deps.access.check_requester(cmd.actor, cmd.channel_id)
        if refusal:
            return self.refusals.refuse(refusal, cmd.actor.user_id, cmd.hub_name, cmd.kind)
        # With the device count: the approval message shows it and the estimate rests on it.
        hub = self.hubs.live_hub(cmd.hub_name)
        if isinstance(hub, Refusal):
            return self.refusals.refuse(hub, cmd.actor.user_id, cmd.hub_name, cmd.kind)
        if not same_region(hub.active_region, cmd.expected_active_region):
            changed = Refusal(RefusalReason.HUB_CHANGED,
                              f"The hub is now active in {hub.active_display}; "
                              "close this dialog and start again.")
            self.refusals.refuse(changed, cmd.actor.user_id, hub.name, cmd.kind)
            return FieldErrors({"confirm_hub_name": changed.message})
        now = self.deps.clock.now()
        request = FailoverRequest(
            id=_request_id_for(cmd) if cmd.key else new_request_id(), hub=hub.ref,
            kind=cmd.kind,
            status=RequestStatus.AWAITING_APPROVAL, requested_by=cmd.actor.user_id,
            reason=cmd.reason.strip(), channel_id=cmd.channel_id, created_at=now,
            expires_at=now + self.deps.request_ttl, region_before=hub.active_region,
            region_target=hub.target_region, device_count=hub.device_count,
            consumers=_declared(hub), drill_id=new_drill_id() if cmd.drill else None,
        )
        read = self.hubs.read_history(hub)
        drills = self.drills if cmd.drill is not None else None
        with self.deps.uow() as uow:
            history = self.hubs.histories.merge(uow, read)
            refusal = (check_direction(cmd.kind, hub) or check_ready(hub)
                       or self.hubs.quota_refusal(uow, hub.name, cmd.kind, history)
                       or (drills.refusal(uow, hub, history) if drills else None))
            if refusal is None:
                try:
                    uow.requests.add(request)
                except HubLocked:
                    refusal = check_open_request(uow.requests.open_for_hub(hub.name)) or Refusal(
                        RefusalReason.HUB_LOCKED, "Another request holds this hub.")
            if refusal is None:
                requested = request.requested()
                if drills is not None and cmd.drill is not None:
                    drills.add(uow, request, cmd.drill)
                    requested = replace(requested, detail={**requested.detail,
                                                           "drill": request.drill_id})
                uow.events.append(requested)
                if not self.deps.access.require_approval:
                    request = mark_approved(self.deps, uow, request, AUTO_APPROVER) or request
                uow.commit()
        if refusal:
            return self.refusals.refuse(refusal, cmd.actor.user_id, hub.name, cmd.kind)
        return Submitted(request)

    def _submitted_before(self, cmd: SubmitFailover) -> FailoverRequest | None:
        if not cmd.key:
            return None
        with self.deps.uow() as uow:
            earlier = uow.requests.get(_request_id_for(cmd))
        return earlier if earlier and earlier.requested_by == cmd.actor.user_id else None


def _request_id_for(cmd: SubmitFailover) -> str:
    """The request id one submission always gets (the shape of ``new_request_id``)."""
    named = f"{cmd.actor.user_id}:{cmd.key}"
    return "fr-" + hashlib.sha256(named.encode()).hexdigest()[:8]


def _declared(hub: HubState) -> HubConsumers | None:
    """What approving the request will approve after the move (the dialog showed it)."""
    return hub.consumers if hub.consumers is not None and hub.consumers.declared else None
