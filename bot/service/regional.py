"""Asking for a regional batch: which hubs a region's dialog lists, and the submission.

A batch is one confirmation for every hub active in a failed region (or, after the outage,
every hub away from its home region). Each hub then becomes an ordinary request carrying the
batch id, so every single-hub guarantee holds for each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from bot.domain.batch import (
    Batch,
    BatchStatus,
    Candidate,
    check_region_confirmation,
    listed_names,
    new_batch_id,
    start_order,
)
from bot.domain.model import HubState, OperationKind
from bot.domain.names import unmatched_names
from bot.domain.policy import Actor
from bot.domain.regions import display_name, region_key, same_region
from bot.domain.request import FailoverRequest, RequestStatus, new_request_id
from bot.domain.rules import Refusal, RefusalReason, check_open_request, check_ready
from bot.hubs.gateway import GatewayError
from bot.service.changes import azure_refusal
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.store.base import HubLocked

# Approval by policy (BOT_REQUIRE_APPROVAL=false), given by the deciding side.
ApproveAtOnce = Callable[["BatchSubmitted"], "BatchSubmitted"]

# Hubs read at once while the dialog is filled in (live state, device count, history).
READ_THREADS = 16
MAX_LISTED = 1_000  # names in one list input (a "Leave out" of 3,000 characters holds fewer)


@dataclass(frozen=True)
class RegionPreview:
    """What the regional dialog lists: eligible hubs first, in start order."""

    region: str  # the region key
    kind: OperationKind
    candidates: list[Candidate]

    @property
    def eligible(self) -> list[Candidate]:
        return [c for c in self.candidates if c.eligible]

    @property
    def region_display(self) -> str:
        return display_name(self.region)


@dataclass(frozen=True)
class SubmitBatch:
    actor: Actor
    channel_id: str
    kind: OperationKind
    region: str
    typed_region: str
    reason: str
    hubs: Sequence[str] = ()  # the hubs chosen; ignored with ``all_eligible``
    all_eligible: bool = False  # past 100 hubs: every eligible one but those left out
    leave_out: str = ""  # hub names as typed (``listed_names``)
    key: str | None = None  # names this submission: a re-run finds the batch it wrote
    cleaned: Mapping[str, str] = field(default_factory=dict)  # input -> what cleaning removed


@dataclass(frozen=True)
class BatchSubmitted:
    batch: Batch
    members: list[FailoverRequest]
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (hub, why)


@dataclass(frozen=True)
class BatchFieldErrors:
    """Inline errors for the dialog, keyed by input (``confirm_region``, ``reason``,
    ``hubs``, ``exclude``); with the region read again when a list named a hub it should not
    (the dialog is shown again, fresh)."""

    errors: dict[str, str]
    preview: RegionPreview | None = None


class RegionalAsking:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals,
                 approve: ApproveAtOnce) -> None:
        self.deps, self.hubs, self.refusals = deps, hubs, refusals
        self._approve_at_once = approve

    def preview(self, actor: Actor, channel_id: str, region: str,
                kind: OperationKind) -> RegionPreview | Refusal:
        refusal = self.deps.access.check_requester(actor, channel_id)
        if refusal:
            return self.refusals.refuse(refusal, actor.user_id, None, kind)
        found = self.candidates(region, kind)
        if isinstance(found, Refusal):
            return self.refusals.refuse(found, actor.user_id, None, kind)
        return found

    def candidates(self, region: str, kind: OperationKind) -> RegionPreview | Refusal:
        """Every hub of the region, each with its eligibility, read live from Azure."""
        try:
            listed = self.deps.gateway.list_hubs()
        except GatewayError as exc:
            return azure_refusal(exc)
        key = region_key(region)
        if kind is OperationKind.FAILOVER:
            # Every hub active there: one already failed over into it is listed, not eligible.
            chosen = [h for h in listed if same_region(h.active_region, key)]
        else:
            chosen = [h for h in listed if same_region(h.home_region, key)
                      and not same_region(h.active_region, key)]
        if not chosen:
            where = "active in" if kind is OperationKind.FAILOVER else "failed over from"
            regions = sorted({display_name(h.active_region) for h in listed})
            return Refusal(RefusalReason.HUB_NOT_FOUND,
                           f"No IoT Hub I can see is {where} {display_name(key)}. Hubs I see "
                           f"are active in: {', '.join(regions) or 'none'}.")
        with ThreadPoolExecutor(min(READ_THREADS, len(chosen))) as pool:
            candidates = list(pool.map(lambda h: self._candidate(h, kind), chosen))
        ordered = {c.hub.name: c for c in candidates}
        eligible = [ordered[h.name] for h in start_order(c.hub for c in candidates
                                                        if c.eligible)]
        others = sorted((c for c in candidates if not c.eligible), key=lambda c: c.hub.name)
        return RegionPreview(key, kind, eligible + others)

    def _candidate(self, listed: HubState, kind: OperationKind) -> Candidate:
        try:
            hub = self.deps.gateway.get_state(listed.ref)
        except GatewayError as exc:
            return Candidate(listed, azure_refusal(exc).message)
        if not hub.has_pair:
            return Candidate(hub, "no paired region (data residency): Azure cannot fail it over")
        if hub.next_kind is not kind:
            return Candidate(hub, f"active away from home: this would be a {hub.next_kind.value}")
        ready = check_ready(hub)
        if ready:
            return Candidate(hub, f"{hub.state} (provisioning {hub.provisioning_state}), "
                                  "not Active")
        read = self.hubs.read_history(hub)
        with self.deps.uow() as uow:
            history = self.hubs.histories.merge(uow, read)
            locked = check_open_request(uow.requests.open_for_hub(hub.name))
            quota = self.hubs.quota_refusal(uow, hub.name, kind, history)
            left = self.hubs.quota_left(uow, hub.name, kind, history)
            failback_at = (self.hubs.failback_allowed_at(uow, hub.name, history)
                           if kind is OperationKind.FAILBACK else None)
            durations = uow.requests.recent_durations(hub.name)
        estimate = self.hubs.estimate(hub.device_count, durations).total_seconds()
        reason, allowed_at = None, None
        if locked:
            reason = "an operation is running or requested"
        elif quota and quota.reason is RefusalReason.COOLDOWN:
            reason = None  # a failback inside its cool-down is scheduled for when it ends
        elif quota:
            reason = f"today's {kind.value}s used ({quota.message})"
            allowed_at = quota.allowed_at
        return Candidate(hub, reason, left, estimate, failback_at if not reason else None,
                         allowed_at)

    def submit(self, cmd: SubmitBatch) -> BatchSubmitted | BatchFieldErrors | Refusal:
        """Write the batch and one request per chosen, still eligible hub (in start order)."""
        earlier = self._submitted_before(cmd)
        if earlier is not None:
            return earlier
        result = self._submit(cmd)
        if cmd.cleaned:  # what people typed was changed before use: the audit says how
            batch = result.batch.id if isinstance(result, BatchSubmitted) else None
            self.refusals.record_cleaned(cmd.cleaned, cmd.actor.user_id, kind=cmd.kind,
                                         batch_id=batch)
        return result

    def _submit(self, cmd: SubmitBatch) -> BatchSubmitted | BatchFieldErrors | Refusal:
        errors = check_region_confirmation(cmd.region, cmd.typed_region, cmd.reason,
                                           cmd.leave_out)
        nobody = self.deps.access.check_approvable(cmd.actor)
        if nobody:
            errors = {**errors, "confirm_region": nobody}
        if errors:
            for error in errors.values():
                self.refusals.refuse(error, cmd.actor.user_id, None, cmd.kind)
            return BatchFieldErrors({key: r.message for key, r in errors.items()})
        refusal = self.deps.access.check_requester(cmd.actor, cmd.channel_id)
        if refusal:
            return self.refusals.refuse(refusal, cmd.actor.user_id, None, cmd.kind)
        preview = self.candidates(cmd.region, cmd.kind)
        if isinstance(preview, Refusal):
            return self.refusals.refuse(preview, cmd.actor.user_id, None, cmd.kind)
        listed = _listed_errors(cmd, preview)
        if listed:
            for reason, message in listed.values():
                self.refusals.refuse(Refusal(reason, message), cmd.actor.user_id, None,
                                     cmd.kind)
            return BatchFieldErrors({key: m for key, (_, m) in listed.items()}, preview)
        if cmd.all_eligible:
            skip = {h.lower() for h in listed_names(cmd.leave_out)}
            chosen = [c for c in preview.eligible if c.hub.name.lower() not in skip]
        else:
            wanted = {h.lower() for h in cmd.hubs}
            chosen = [c for c in preview.eligible if c.hub.name.lower() in wanted]
        return self._record(cmd, preview, chosen)

    def _record(self, cmd: SubmitBatch, preview: RegionPreview,
                chosen: list[Candidate]) -> BatchSubmitted | BatchFieldErrors:
        if not chosen:  # every name matched an eligible hub: none chosen, or all left out
            message = "No hub is left to move: choose at least one."
            self.refusals.refuse(Refusal(RefusalReason.HUB_NOT_READY, message),
                                 cmd.actor.user_id, None, cmd.kind)
            return BatchFieldErrors({"hubs": message}, preview)
        left_out: list[tuple[str, str]] = []
        now = self.deps.clock.now()
        order = {h.name: i for i, h in enumerate(start_order(c.hub for c in chosen))}
        batch = Batch(id=_batch_id_for(cmd) if cmd.key else new_batch_id(), kind=cmd.kind,
                      region=preview.region, status=BatchStatus.AWAITING_APPROVAL,
                      requested_by=cmd.actor.user_id, reason=cmd.reason.strip(),
                      channel_id=cmd.channel_id, created_at=now,
                      expires_at=now + self.deps.request_ttl)
        members: list[FailoverRequest] = []
        with self.deps.uow() as uow:
            for candidate in sorted(chosen, key=lambda c: order[c.hub.name]):
                hub = candidate.hub
                request = FailoverRequest(
                    id=new_request_id(), hub=hub.ref, kind=cmd.kind,
                    status=RequestStatus.AWAITING_APPROVAL, requested_by=cmd.actor.user_id,
                    reason=batch.reason, channel_id=cmd.channel_id, created_at=now,
                    expires_at=batch.expires_at, region_before=hub.active_region,
                    region_target=hub.target_region, device_count=hub.device_count,
                    batch_id=batch.id, batch_position=order[hub.name],
                    consumers=hub.consumers if hub.consumers and hub.consumers.declared
                    else None)
                try:
                    uow.requests.add(request)
                except HubLocked:  # somebody asked for this hub meanwhile
                    left_out.append((hub.name, "an operation was requested meanwhile"))
                    continue
                members.append(request)
            if not members:
                return BatchFieldErrors({"hubs": "Every chosen hub was requested meanwhile."})
            batch = replace(batch, hub_count=len(members))
            uow.batches.add(batch)
            uow.events.append(batch.requested())
            for request in members:
                uow.events.append(request.requested())
            uow.commit()
        submitted = BatchSubmitted(batch, members, left_out)
        if not self.deps.access.require_approval:
            return self._approve_at_once(submitted)
        return submitted

    def _submitted_before(self, cmd: SubmitBatch) -> BatchSubmitted | None:
        if not cmd.key:
            return None
        with self.deps.uow() as uow:
            batch = uow.batches.get(_batch_id_for(cmd))
            members = uow.requests.members(batch.id) if batch else []
        if batch is None or batch.requested_by != cmd.actor.user_id:
            return None
        return BatchSubmitted(batch, members)


def _listed_errors(cmd: SubmitBatch, preview: RegionPreview
                   ) -> dict[str, tuple[RefusalReason, str]]:
    """Every name in a list input must be an eligible hub: a typo in "Leave out" would move
    the hub it meant to keep, and a chosen hub that is no longer eligible is asked again."""
    lists = {"exclude": ("Leave out", listed_names(cmd.leave_out))} if cmd.all_eligible else {
        "hubs": ("Hubs to move", cmd.hubs)}
    eligible = [c.hub.name for c in preview.eligible]
    why_not = {c.hub.name: c.reason or "" for c in preview.candidates if not c.eligible}
    errors: dict[str, tuple[RefusalReason, str]] = {}
    for key, (what, names) in lists.items():
        if len(names) > MAX_LISTED:
            errors[key] = (RefusalReason.INPUT_TOO_LONG,
                           f"{what} lists {len(names):,} names; at most {MAX_LISTED:,}.")
            continue
        message = unmatched_names(what, names, eligible, why_not)
        if message:
            errors[key] = (RefusalReason.HUB_NOT_FOUND, message)
    return errors


def _batch_id_for(cmd: SubmitBatch) -> str:
    named = f"{cmd.actor.user_id}:{cmd.key}"
    return "fb-" + hashlib.sha256(named.encode()).hexdigest()[:8]
