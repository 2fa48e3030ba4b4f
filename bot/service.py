"""The use cases: preview, submit, approve, reject, cancel, start, observe, expire, status, audit.

Entry points (Slack, CLI, poller) call these with plain values; Slack payloads never arrive
here, SQL stays in the store and the Azure SDK in the gateway. Every refusal is returned as a
value and written to the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.backoff import backoff_delay
from bot.domain.clock import Clock
from bot.domain.durations import humanize
from bot.domain.model import AuditAction, AuditEvent, HubState, OperationKind
from bot.domain.names import closest_names
from bot.domain.policy import AccessPolicy, Actor, check_decidable
from bot.domain.regions import same_region
from bot.domain.request import (
    SYSTEM,
    Change,
    FailoverRequest,
    RequestStatus,
    TransitionRefused,
    new_request_id,
)
from bot.domain.rules import (
    Limits,
    Refusal,
    RefusalReason,
    check_confirmation,
    check_direction,
    check_hub_name,
    check_open_request,
    check_ready,
    estimate_duration,
)
from bot.history import ActivityRead, HubHistories, HubHistory
from bot.hubs.activity import ActivityLogReader
from bot.hubs.gateway import (
    AmbiguousHub,
    GatewayError,
    HubNotFound,
    IotHubGateway,
    OperationConflict,
    OperationPoll,
    OperationState,
    Throttled,
    TransientError,
)
from bot.notifications import CompletionReport
from bot.store.base import AuditQuery, HubLocked, StoreUnavailable, UnitOfWork
from bot.telemetry import Metrics

log = logging.getLogger(__name__)

AUTO_APPROVER = "policy:auto"
OUTCOME_UNKNOWN = "FailoverOutcomeUnknown"  # the gateway's code for a start whose answer was lost
# "Nothing is running" needs the hub seen quiet (ready, where it was) for this long at least,
# and for this many poll intervals: Azure may take a while to act on a POST it accepted.
NOT_STARTED_AFTER = timedelta(minutes=5)
NOT_STARTED_POLLS = 10


class LeaseKeeper(Protocol):
    """Keeps a request's lease alive while its owner works on it (the poller's heartbeat)."""

    def keep(self, request_id: str, owner: str) -> None: ...

    def drop(self, request_id: str, owner: str) -> None: ...


class _Unkept:
    """No heartbeat (a service without a poller): leases last their TTL."""

    def keep(self, request_id: str, owner: str) -> None:
        return None

    def drop(self, request_id: str, owner: str) -> None:
        return None


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


@dataclass(frozen=True)
class Submitted:
    request: FailoverRequest


@dataclass(frozen=True)
class FieldErrors:
    """Inline errors for the modal, keyed by input (``confirm_hub_name``, ``reason``)."""

    errors: dict[str, str]


@dataclass(frozen=True)
class Decision:
    """The result of approve/reject/cancel: the request as it now is, and a refusal if any."""

    request: FailoverRequest | None
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True)
class HubStatus:
    hub: HubState
    quota_left: dict[OperationKind, int]
    failback_allowed_at: datetime | None
    open_request: FailoverRequest | None
    recent: list[FailoverRequest]
    estimate: timedelta
    quota_detail: dict[OperationKind, str] = field(default_factory=dict)
    history_note: str | None = None
    moved_unrecorded: bool = False  # active region changed with no operation on record


@dataclass(frozen=True)
class HubPage:
    hubs: list[HubState]
    page: int
    pages: int
    total: int
    moved_unrecorded: frozenset[str] = frozenset()  # hub names


@dataclass(frozen=True)
class Observation:
    """One look at a running operation, as the poller needs it."""

    request: FailoverRequest
    poll: OperationPoll | None
    retry_after: float | None = None
    report: CompletionReport | None = None

    @property
    def finished(self) -> bool:
        return self.request.status.is_terminal


@dataclass
class FailoverService:
    uow: Callable[[], UnitOfWork]
    gateway: IotHubGateway
    clock: Clock
    limits: Limits = field(default_factory=Limits)
    access: AccessPolicy = field(default_factory=AccessPolicy)
    request_ttl: timedelta = timedelta(minutes=30)
    poll_interval: timedelta = timedelta(seconds=30)
    metrics: Metrics | None = None
    # The lease a start holds on its row while its POST may be in flight, so that no poller
    # anywhere decides "nothing is running" meanwhile; the poller's heartbeat keeps it alive.
    leases: LeaseKeeper = field(default_factory=_Unkept)
    lease_ttl: timedelta = timedelta(seconds=15)
    start_owner: str = field(default_factory=lambda: f"start-{secrets.token_hex(4)}")
    max_backoff: timedelta = timedelta(minutes=5)
    rng: random.Random = field(default_factory=random.Random)
    # How much faster than Azure time runs (the sandbox's --speed): estimates shown are scaled.
    time_scale: float = 1.0
    activity: ActivityLogReader | None = None  # Azure's Activity Log; None: own records only
    # This process's memory: POSTs in flight, handles the database did not take yet, and since
    # when the hub of a handle-less request has been seen quiet.
    _posting: set[str] = field(default_factory=set, init=False, repr=False)
    _unsaved: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _quiet_since: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)
    _memory: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._histories = HubHistories(self.activity, self.clock, self.limits)

    def use_leases(self, keeper: LeaseKeeper, owner: str, ttl: timedelta) -> None:
        """Wire the poller's heartbeat: starts hold leases as ``owner`` for ``ttl``."""
        self.leases, self.start_owner, self.lease_ttl = keeper, owner, ttl

    # ---- asking -------------------------------------------------------------------------

    def preview(self, actor: Actor, channel_id: str, hub_name: str,
                kind: OperationKind) -> Preview | Refusal:
        """Check everything that can be checked before the modal, and gather what it shows."""
        refusal = self.access.check_requester(actor, channel_id) or check_hub_name(hub_name)
        if refusal:
            return self._refuse(refusal, actor.user_id, hub_name, kind)
        hub = self._live_hub(hub_name)
        if isinstance(hub, Refusal):
            return self._refuse(hub, actor.user_id, hub_name, kind)
        read = self._read_history(hub)
        with self.uow() as uow:
            history = self._histories.merge(uow, read)
            # A running or open operation first: it explains a busy hub or a changed direction.
            refusal = (check_open_request(uow.requests.open_for_hub(hub.name))
                       or check_direction(kind, hub) or check_ready(hub)
                       or self._quota_refusal(uow, hub.name, kind, history))
            durations = uow.requests.recent_durations(hub.name)
            quota_left = self._quota_left(uow, hub.name, kind, history)
            failback_at = self._failback_allowed_at(uow, hub.name, history)
        self._histories.record_observed(self.uow, hub.name, history)
        if refusal:
            return self._refuse(refusal, actor.user_id, hub.name, kind)
        return Preview(hub, kind, self.estimate(hub.device_count, durations), quota_left,
                       self.limits.daily_limit(kind), failback_at,
                       quota_detail=history.detail(kind), history_note=history.unavailable)

    def submit(self, cmd: SubmitFailover) -> Submitted | FieldErrors | Refusal:
        """Write the confirmed request; approve it at once when approval is not required.

        With a ``key``, submitting again (the work was re-run after a crash) returns the
        request the first submission wrote, if it got that far.
        """
        earlier = self._submitted_before(cmd)
        if earlier is not None:
            return Submitted(earlier)
        errors = check_confirmation(cmd.hub_name, cmd.typed_name, cmd.reason)
        nobody = self.access.check_approvable(cmd.actor)
        if nobody:
            errors = {**errors, "confirm_hub_name": nobody}
        if errors:
            for error in errors.values():
                self._refuse(error, cmd.actor.user_id, cmd.hub_name, cmd.kind)
            return FieldErrors({key: r.message for key, r in errors.items()})
        refusal = self.access.check_requester(cmd.actor, cmd.channel_id)
        if refusal:
            return self._refuse(refusal, cmd.actor.user_id, cmd.hub_name, cmd.kind)
        # With the device count: the approval message shows it and the estimate rests on it.
        hub = self._live_hub(cmd.hub_name)
        if isinstance(hub, Refusal):
            return self._refuse(hub, cmd.actor.user_id, cmd.hub_name, cmd.kind)
        if not same_region(hub.active_region, cmd.expected_active_region):
            changed = Refusal(RefusalReason.HUB_CHANGED,
                              f"The hub is now active in {hub.active_display}; "
                              "close this dialog and start again.")
            self._refuse(changed, cmd.actor.user_id, hub.name, cmd.kind)
            return FieldErrors({"confirm_hub_name": changed.message})
        now = self.clock.now()
        request = FailoverRequest(
            id=_request_id_for(cmd) if cmd.key else new_request_id(), hub=hub.ref,
            kind=cmd.kind,
            status=RequestStatus.AWAITING_APPROVAL, requested_by=cmd.actor.user_id,
            reason=cmd.reason.strip(), channel_id=cmd.channel_id, created_at=now,
            expires_at=now + self.request_ttl, region_before=hub.active_region,
            region_target=hub.target_region, device_count=hub.device_count,
        )
        read = self._read_history(hub)
        with self.uow() as uow:
            refusal = (check_direction(cmd.kind, hub) or check_ready(hub)
                       or self._quota_refusal(uow, hub.name, cmd.kind,
                                              self._histories.merge(uow, read)))
            if refusal is None:
                try:
                    uow.requests.add(request)
                except HubLocked:
                    refusal = check_open_request(uow.requests.open_for_hub(hub.name)) or Refusal(
                        RefusalReason.HUB_LOCKED, "Another request holds this hub.")
            if refusal is None:
                uow.events.append(request.requested())
                if not self.access.require_approval:
                    request = self._mark_approved(uow, request, AUTO_APPROVER) or request
                uow.commit()
        if refusal:
            return self._refuse(refusal, cmd.actor.user_id, hub.name, cmd.kind)
        return Submitted(request)

    def _submitted_before(self, cmd: SubmitFailover) -> FailoverRequest | None:
        if not cmd.key:
            return None
        with self.uow() as uow:
            earlier = uow.requests.get(_request_id_for(cmd))
        return earlier if earlier and earlier.requested_by == cmd.actor.user_id else None

    # ---- deciding -----------------------------------------------------------------------

    def approve(self, actor: Actor, request_id: str) -> Decision:
        """Approve, after re-checking policy, quota and cool-down; at most one approval wins."""
        pending = self.get_request(request_id)
        # Azure's Activity Log is read before the transaction: it is an HTTP call.
        read = (self._histories.read(pending.hub, pending.kind is OperationKind.FAILOVER)
                if pending is not None and pending.status is RequestStatus.AWAITING_APPROVAL
                else None)
        return self._decide(
            actor, request_id,
            check=lambda uow, r: (self.access.check_approver(actor, r)
                                  or self._quota_refusal(
                                      uow, r.hub.name, r.kind,
                                      self._histories.merge(uow, read) if read else None)),
            act=lambda uow, r: self._mark_approved(uow, r, actor.user_id))

    def reject(self, actor: Actor, request_id: str, note: str = "") -> Decision:
        """An approver turns the request down; the requester's own Reject withdraws it, as
        ``/iothub cancel`` does (audited as cancelled)."""
        request = self.get_request(request_id)
        if request is not None and request.requested_by == actor.user_id:
            return self.cancel(actor, request_id)
        return self._close(actor, request_id, RequestStatus.REJECTED, AuditAction.REJECTED,
                           self.access.check_approver, note)

    def cancel(self, actor: Actor, request_id: str) -> Decision:
        """The requester (or an approver) withdraws a request that has not started."""
        decision = self._close(actor, request_id, RequestStatus.CANCELLED,
                               AuditAction.CANCELLED, self.access.check_canceller, "")
        request, refusal = decision.request, decision.refusal
        if (refusal and refusal.reason is RefusalReason.ALREADY_DECIDED and request
                and request.status.is_open):
            # Too late to withdraw: the answer shows what is running and what to do instead.
            return Decision(request, replace(refusal, request=request))
        return decision

    def expire_due(self) -> list[FailoverRequest]:
        """Expire every request whose approval window has passed."""
        now = self.clock.now()
        expired: list[FailoverRequest] = []
        with self.uow() as uow:
            for request in uow.requests.due_for_expiry(now):
                done = _change(uow, request, lambda r: r.expire(now))
                if done:
                    expired.append(done)
            uow.commit()
        return [self._counted(r) for r in expired]

    # ---- running ------------------------------------------------------------------------

    def start(self, request_id: str, *, lease_owner: str | None = None
              ) -> FailoverRequest | None:
        """Start an approved request: audit row first, then one call to Azure.

        The APPROVED → RUNNING compare-and-set is the guard against a second POST: only the
        caller that wins it talks to Azure, on any replica. While the POST may be in flight
        the row is leased (``lease_owner``: the poller that claimed it; else this service's
        own, released once Azure answered), so no poller decides "nothing is running"
        meanwhile. The first attempt is audited ``started``, later ones ``retry``.
        """
        with self.uow() as uow:
            request = uow.requests.get(request_id)
        if request is None or request.status is not RequestStatus.APPROVED:
            return request
        try:
            problem = self._start_blocker(request)
        except (Throttled, TransientError) as exc:
            return self._start_later(request, exc)
        now = self.clock.now()
        owner = lease_owner or self.start_owner
        own_lease = lease_owner is None
        with self.uow() as uow:
            # A hub busy after our own postponed start: Azure took that POST after all.
            follow = (problem is not None and problem.reason is RefusalReason.HUB_NOT_READY
                      and _postponed_before(uow, request.id))
            if problem and not follow:
                failed = _change(uow, request, lambda r: r.refuse_start(
                    now, problem.reason.value, problem.message))
                uow.commit()
                return self._counted(failed) if failed else None
            attempts = _attempts_before(uow, request.id)
            running = _change(uow, request, lambda r: r.start(
                now, now + self.poll_interval, attempts_before=attempts, following_hub=follow))
            if running is None:
                return uow.requests.get(request.id)
            uow.requests.take_lease(running.id, owner, now + self.lease_ttl)
            uow.commit()
        if follow:
            self._release_start_lease(running.id, owner, own_lease, now)
            return running  # observe() follows the hub; no second POST
        if own_lease:  # a poller's claimed lease is already kept by its heartbeat
            self.leases.keep(running.id, owner)
        with self._memory:
            self._posting.add(running.id)
        try:
            handle = self.gateway.start_failover(running.hub, running.region_target)
        except (Throttled, TransientError) as exc:
            # Azure did not take it (the gateway re-reads the hub before saying so).
            return self._start_later(running, exc, owner if own_lease else None)
        except GatewayError as exc:
            self._release_start_lease(running.id, owner, own_lease, self.clock.now())
            if exc.code == OUTCOME_UNKNOWN or isinstance(exc, OperationConflict):
                # Azure may be running it (an earlier answer was lost, or Azure says an
                # operation is already under way): stay running without a handle; observe()
                # then decides from the hub's own state, and nothing is POSTed again.
                log.warning("failover of %s: %s; following the hub", running.id, exc.code)
                return running
            return self._finish_failed(running, exc.code or type(exc).__name__, exc.message)
        finally:
            if own_lease:
                self.leases.drop(running.id, owner)
            with self._memory:
                self._posting.discard(running.id)
        return self._store_handle(running, handle, owner if own_lease else None)

    def save_unsaved_handles(self) -> int:
        """Store the handles of POSTs Azure accepted while the database was down; each round
        of the poller calls this. Returns how many are still waiting."""
        with self._memory:
            waiting = dict(self._unsaved)
        try:
            for request_id, handle in waiting.items():
                with self.uow() as uow:
                    request = uow.requests.get(request_id)
                if request is not None:
                    self._store_handle(request, handle, None)
        except StoreUnavailable:
            log.warning("the database is still unavailable; %d handles wait", len(waiting))
        with self._memory:
            return len(self._unsaved)

    def observe(self, request_id: str) -> Observation | None:
        """Poll a running request's operation once and record its end."""
        with self.uow() as uow:
            request = uow.requests.get(request_id)
        if request is None:
            return None
        if request.status is not RequestStatus.RUNNING:
            return Observation(request, None)
        handle = request.operation_handle
        if not handle:
            with self._memory:
                handle = self._unsaved.get(request.id)
            if handle is None:
                return self._observe_without_handle(request)
            request = self._store_handle(request, handle, None)  # Azure's answer, kept
        try:
            poll = self.gateway.poll(request.hub, handle)
        except (Throttled, TransientError) as exc:
            log.warning("poll of %s failed: %s", request.id, exc.code)
            return Observation(request, None, retry_after=exc.retry_after)
        except GatewayError as exc:
            # The operation cannot be looked at (gone, or a handle Azure no longer knows):
            # follow the hub itself instead of polling a dead handle for ever.
            log.warning("operation of %s unreadable (%s): following the hub", request.id,
                        exc.code)
            return self._observe_without_handle(request, lost=f"Azure no longer knows the "
                                                f"operation ({exc.code}: {exc.message})")
        if poll.state is OperationState.RUNNING:
            return Observation(request, poll, retry_after=poll.retry_after)
        if poll.state is OperationState.FAILED:
            failed = self._finish_failed(request, poll.error_code or "Failed",
                                         poll.error_message or "Azure reported a failure.")
            return Observation(failed, poll, report=self.report(failed))
        return self._finish_succeeded(request, poll)

    def report(self, request: FailoverRequest, hub: HubState | None = None) -> CompletionReport:
        """What the completion message needs: quota left today and the failback window."""
        # Where the hub is now: moved by this request if it succeeded, else where it was.
        at_home = (request.kind is OperationKind.FAILOVER) != (
            request.status is RequestStatus.SUCCEEDED)
        read = self._histories.read(request.hub, at_home)
        with self.uow() as uow:
            history = self._histories.merge(uow, read)
            quota_left = self._quota_left(uow, request.hub.name, request.kind, history)
            failback_at = self._failback_allowed_at(uow, request.hub.name, history)
        self._histories.record_observed(self.uow, request.hub.name, history)
        return CompletionReport(request, hub, quota_left, failback_at)

    # ---- reading ------------------------------------------------------------------------

    def status(self, hub_name: str, actor: Actor | None = None) -> HubStatus | Refusal:
        """Live region and state, quota left, cool-down, open request and recent operations."""
        user = actor.user_id if actor else SYSTEM
        refusal = check_hub_name(hub_name)
        if refusal:
            return self._refuse(refusal, user, hub_name, None)
        hub = self._live_hub(hub_name)
        if isinstance(hub, Refusal):
            return self._refuse(hub, user, hub_name, None)
        with self.uow() as uow:
            known = self._histories.last_known(
                uow, hub, or_home_long_ago=hub.next_kind is OperationKind.FAILBACK)
        # Far enough back to explain a move since the hub's region was last on record.
        read = self._read_history(hub, since=min(known[1], self._histories.window_start())
                                  if known else None)
        with self.uow() as uow:
            history = self._histories.merge(uow, read)
            quota = {kind: self._quota_left(uow, hub.name, kind, history)
                     for kind in OperationKind}
            failback_at = self._failback_allowed_at(uow, hub.name, history)
            open_request = uow.requests.open_for_hub(hub.name)
            recent = uow.requests.recent(hub.name)
            durations = uow.requests.recent_durations(hub.name)
        self._histories.record_observed(self.uow, hub.name, history)
        moved = self._histories.moved_unrecorded(known, hub, read, history)
        return HubStatus(hub, quota, failback_at, open_request, recent,
                         self.estimate(hub.device_count, durations),
                         quota_detail={kind: history.detail(kind) for kind in OperationKind},
                         history_note=history.unavailable, moved_unrecorded=moved)

    def list_hubs(self, page: int = 1, page_size: int = 20) -> HubPage | Refusal:
        try:
            hubs = sorted(self.gateway.list_hubs(), key=lambda h: h.name.lower())
        except GatewayError as exc:
            return _azure_refusal(exc)
        pages = max(1, -(-len(hubs) // page_size))
        page = min(max(1, page), pages)
        start = (page - 1) * page_size
        shown = hubs[start:start + page_size]
        return HubPage(shown, page, pages, len(hubs), self._moved_unrecorded(shown))

    def audit(self, query: AuditQuery) -> list[AuditEvent]:
        with self.uow() as uow:
            return uow.events.search(query)

    def get_request(self, request_id: str) -> FailoverRequest | None:
        with self.uow() as uow:
            return uow.requests.get(request_id)

    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        """Remember where the request was announced, so later updates edit that message."""
        with self.uow() as uow:
            uow.requests.attach_message(request_id, message_ts=message_ts,
                                        status_message_ts=status_message_ts)
            uow.commit()

    def mark_notified(self, request_id: str, version: int) -> None:
        """People have seen the request as of ``version`` (the store never goes backwards)."""
        with self.uow() as uow:
            uow.requests.mark_notified(request_id, version)
            uow.commit()

    def record_refusal(self, refusal: Refusal, user: str, hub: str | None = None) -> Refusal:
        """For refusals decided at the edge (e.g. unparseable input): audit them too."""
        return self._refuse(refusal, user, hub, None)

    def estimate(self, device_count: int | None,
                 past: Sequence[timedelta] = ()) -> timedelta:
        """Expected duration on this bot's clock: Azure's figures divided by ``time_scale``
        (the hub's own history was measured on this clock already)."""
        scale = self.time_scale
        return estimate_duration(device_count, [d * scale for d in past]) / scale

    # ---- helpers ------------------------------------------------------------------------

    def _live_hub(self, name: str, *, with_device_count: bool = True) -> HubState | Refusal:
        try:
            ref = self.gateway.resolve(name)
            return self.gateway.get_state(ref, with_device_count=with_device_count)
        except HubNotFound:
            return Refusal(RefusalReason.HUB_NOT_FOUND,
                           f"No IoT Hub called `{name}` in the configured subscriptions."
                           f"{self._did_you_mean(name)} `/iothub list` shows the hubs I can see.")
        except AmbiguousHub as exc:
            where = ", ".join(f"{c.subscription_id}/{c.resource_group}" for c in exc.candidates)
            return Refusal(RefusalReason.HUB_AMBIGUOUS,
                           f"Several hubs are called `{name}` ({where}); I will not guess.")
        except GatewayError as exc:
            return _azure_refusal(exc)

    def _did_you_mean(self, name: str) -> str:
        """The closest visible hub names (a typo in an incident is the usual cause)."""
        try:
            close = closest_names(name, (h.name for h in self.gateway.list_hubs()))
        except GatewayError:
            return ""
        if not close:
            return ""
        return " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"

    # Quota and cool-down count the bot's own requests and, through ``history``, what Azure's
    # Activity Log shows was done outside the bot (bot.history); without it, own records only.

    def _read_history(self, hub: HubState, since: datetime | None = None) -> ActivityRead:
        return self._histories.read(hub.ref, hub.next_kind is OperationKind.FAILOVER, since)

    def _quota_refusal(self, uow: UnitOfWork, hub: str, kind: OperationKind,
                       history: HubHistory | None = None) -> Refusal | None:
        return self._histories.quota_refusal(uow, hub, kind, history or HubHistory())

    def _quota_left(self, uow: UnitOfWork, hub: str, kind: OperationKind,
                    history: HubHistory | None = None) -> int:
        return self._histories.quota_left(uow, hub, kind, history or HubHistory())

    def _failback_allowed_at(self, uow: UnitOfWork, hub: str,
                             history: HubHistory | None = None) -> datetime | None:
        return self._histories.failback_allowed_at(uow, hub, history or HubHistory())

    def _moved_unrecorded(self, hubs: list[HubState]) -> frozenset[str]:
        """Hubs on a page that are not where the bot's records put them, and whose Activity
        Log holds nothing to explain it (read only for those: usually none)."""
        if self.activity is None:
            return frozenset()
        moved = set()
        try:
            with self.uow() as uow:
                known = {h.name: self._histories.last_known(uow, h) for h in hubs}
            for hub in hubs:
                last = known[hub.name]
                at_home = hub.next_kind is OperationKind.FAILOVER
                if last is None or last[0] == at_home or not hub.is_ready:
                    continue
                read = self._read_history(hub, since=min(last[1],
                                                         self._histories.window_start()))
                with self.uow() as uow:
                    history = self._histories.merge(uow, read)
                if self._histories.moved_unrecorded(last, hub, read, history):
                    moved.add(hub.name)
        except StoreUnavailable:
            log.warning("hub list without the unrecorded-move check: database unavailable")
        return frozenset(moved)

    def _mark_approved(self, uow: UnitOfWork, request: FailoverRequest,
                       approver: str) -> FailoverRequest | None:
        # next_poll_at: should the approver's process die before starting it, the poller will.
        now = self.clock.now()
        return _change(uow, request,
                       lambda r: r.approve(now, approver, now + self.poll_interval))

    def _close(self, actor: Actor, request_id: str, status: RequestStatus, action: AuditAction,
               check: Callable[[Actor, FailoverRequest], Refusal | None], note: str) -> Decision:
        def close(uow: UnitOfWork, request: FailoverRequest) -> FailoverRequest | None:
            now = self.clock.now()
            if status is RequestStatus.REJECTED:
                return _change(uow, request, lambda r: r.reject(now, actor.user_id, note))
            return _change(uow, request, lambda r: r.cancel(now, actor.user_id))

        decision = self._decide(actor, request_id, check=lambda _, r: check(actor, r), act=close)
        if decision.ok and decision.request is not None:
            self._counted(decision.request)
        return decision

    def _decide(self, actor: Actor, request_id: str,
                check: Callable[[UnitOfWork, FailoverRequest], Refusal | None],
                act: Callable[[UnitOfWork, FailoverRequest], FailoverRequest | None]) -> Decision:
        """Check, then compare-and-set; the loser of a race is told what happened instead."""
        with self.uow() as uow:
            request = uow.requests.get(request_id)
            refusal = None if request is None else (
                check_decidable(request, self.clock.now()) or check(uow, request))
            if request is not None and refusal is None:
                done = act(uow, request)
                if done is not None:
                    uow.commit()
                    return Decision(done)
                request = uow.requests.get(request_id) or request
                refusal = check_decidable(request, self.clock.now())
        # Refusals are audited in a unit of work of their own, after this one is closed.
        if request is None:
            return self._not_found(actor, request_id)
        assert refusal is not None
        self._refuse(refusal, actor.user_id, request.hub.name, request.kind, request.id)
        return Decision(request, refusal)

    def _start_blocker(self, request: FailoverRequest) -> Refusal | None:
        """The hub must still be where it was when the request was approved.

        Raises Throttled/TransientError: Azure may well answer later.
        """
        try:
            hub = self.gateway.get_state(request.hub, with_device_count=False)
        except (Throttled, TransientError):
            raise
        except GatewayError as exc:
            return _azure_refusal(exc)
        if not same_region(hub.active_region, request.region_before):
            return Refusal(RefusalReason.HUB_CHANGED,
                           f"The hub is now active in {hub.active_display}; nothing was started.")
        return check_direction(request.kind, hub) or check_ready(hub)

    def _start_later(self, request: FailoverRequest, exc: GatewayError,
                     own_lease: str | None = None) -> FailoverRequest:
        """Azure was busy or unreachable and nothing started: leave the request approved and
        try again after an exponential, jittered back-off (at least Azure's Retry-After),
        unless it has waited as long as a request may after its approval."""
        now = self.clock.now()
        approved_at = request.decided_at or request.created_at
        deadline = approved_at + self.request_ttl
        if now >= deadline:
            if own_lease:
                self._release_start_lease(request.id, own_lease, True, now)
            waited = humanize(self.request_ttl)
            return self._finish_failed(request, exc.code or type(exc).__name__,
                                       f"Azure could not take the request for {waited} after "
                                       f"the approval: {exc.message}")
        with self.uow() as uow:
            failures = _postponements(uow, request.id) + 1
            delay = backoff_delay(failures, self.poll_interval, self.max_backoff,
                                  exc.retry_after, self.rng.random())
            retry_at = min(now + delay, deadline)  # give up on time, not a back-off late
            again = _change(uow, request, lambda r: r.postpone(
                now, retry_at, code=exc.code, error=exc.message, failures=failures))
            if own_lease:
                uow.requests.release_lease(request.id, own_lease, retry_at)
            uow.commit()
        log.warning("start of %s postponed %.1fs (failure %d): %s", request.id,
                    (retry_at - now).total_seconds(), failures, exc.code)
        return again or request

    def _store_handle(self, running: FailoverRequest, handle: str,
                      own_lease: str | None) -> FailoverRequest:
        """Record Azure's handle. Should the database fail now, the POST has still gone out:
        the handle stays in memory (observe() and the poller's rounds store it later) and the
        request stays running, never reported as not started."""
        now = self.clock.now()
        try:
            with self.uow() as uow:
                stored = _change(uow, running, lambda r: r.record_handle(handle))
                if own_lease:
                    uow.requests.release_lease(running.id, own_lease, now + self.poll_interval)
                uow.commit()
        except StoreUnavailable:
            log.error("Azure accepted the failover of %s but its handle could not be stored; "
                      "keeping it to store later", running.id)
            with self._memory:
                self._unsaved[running.id] = handle
            return running.evolve(operation_handle=handle)
        with self._memory:
            self._unsaved.pop(running.id, None)
        return stored or running

    def _release_start_lease(self, request_id: str, owner: str, own: bool,
                             now: datetime) -> None:
        """Hand back a start's own lease, so that a poller looks at the request soon."""
        if not own:
            return
        with self.uow() as uow:
            uow.requests.release_lease(request_id, owner, now + self.poll_interval)
            uow.commit()

    def _observe_without_handle(self, request: FailoverRequest,
                                lost: str | None = None) -> Observation:
        """No usable handle (a crash before Azure answered, or an operation Azure forgot):
        decide from the hub's own state, and never POST again.

        The poller only gets here when no lease is live, i.e. no process is waiting for an
        answer to a POST of this request (this one's memory is checked too). "Nothing is
        running" then still needs positive evidence over a long span: the hub seen ready in
        its original region, continuously, for max(5 min, 10 polls) since the POST.
        """
        with self._memory:
            posting = request.id in self._posting
        if posting:
            return Observation(request, None)
        try:
            hub = self.gateway.get_state(request.hub, with_device_count=False)
        except GatewayError as exc:
            return Observation(request, None, retry_after=exc.retry_after)
        moved = same_region(hub.active_region, request.region_target)
        if moved or not hub.is_ready:
            with self._memory:
                self._quiet_since.pop(request.id, None)
            if moved and hub.is_ready:
                return self._finish_succeeded(request, OperationPoll(OperationState.SUCCEEDED),
                                              hub)
            return Observation(request, OperationPoll(OperationState.RUNNING))  # Azure is at it
        now = self.clock.now()
        with self._memory:
            quiet_since = self._quiet_since.setdefault(request.id, now)
        span = max(NOT_STARTED_AFTER, self.poll_interval * NOT_STARTED_POLLS)
        since = request.started_at or quiet_since
        if now - quiet_since < span or now - since < span:
            return Observation(request, None)
        with self._memory:
            self._quiet_since.pop(request.id, None)
        why = lost or "Azure never confirmed the request (the bot stopped or lost its answer)"
        failed = self._finish_failed(
            request, "NotStarted",
            f"{why}. Since then no request to Azure has been in flight, and for "
            f"{humanize(now - quiet_since)} the hub has stayed {hub.state} in "
            f"{hub.active_display} with no failover: nothing is running. Request it again if "
            "it is still needed.")
        return Observation(failed, None, report=self.report(failed))

    def _finish_succeeded(self, request: FailoverRequest, poll: OperationPoll,
                          hub: HubState | None = None) -> Observation:
        if hub is None:
            try:
                hub = self.gateway.get_state(request.hub)
            except GatewayError:
                hub = None
        now = self.clock.now()
        after = hub.active_region if hub else request.region_target
        with self.uow() as uow:
            endpoint = hub.event_hub_endpoint if hub else None
            done = _change(uow, request, lambda r: r.succeed(now, after, endpoint))
            if done is None:
                current = uow.requests.get(request.id) or request
                return Observation(current, poll)
            uow.commit()
        self._counted(done)
        return Observation(done, poll, report=self.report(done, hub))

    def _finish_failed(self, request: FailoverRequest, code: str,
                       message: str) -> FailoverRequest:
        with self.uow() as uow:
            now = self.clock.now()
            failed = _change(uow, request, lambda r: r.fail(now, code, message))
            if failed is None:
                return uow.requests.get(request.id) or request
            uow.commit()
        return self._counted(failed)

    def _not_found(self, actor: Actor, request_id: str) -> Decision:
        refusal = Refusal(RefusalReason.NOT_FOUND, f"There is no request `{request_id[:40]}`.")
        return Decision(None, self._refuse(refusal, actor.user_id, None, None, None))

    def _counted(self, request: FailoverRequest) -> FailoverRequest:
        """Count a request that reached an end (and its operation's duration, if it ran)."""
        if self.metrics is not None:
            self.metrics.requests_total.labels(outcome=request.status.value).inc()
            if request.duration is not None:
                self.metrics.operation_duration_seconds.labels(
                    kind=request.kind.value, outcome=request.status.value,
                ).observe(request.duration.total_seconds())
        return request

    def _refuse(self, refusal: Refusal, user: str, hub: str | None, kind: OperationKind | None,
                request_id: str | None = None) -> Refusal:
        if self.metrics is not None:
            self.metrics.refusals_total.labels(reason=refusal.reason.value).inc()
        detail = {"reason": refusal.reason.value, "message": refusal.message}
        if refusal.allowed_at:
            detail["allowed_at"] = refusal.allowed_at.isoformat()
        event = AuditEvent(at=self.clock.now(), action=AuditAction.REFUSED, actor=user,
                           hub=(hub or "")[:64] or None, request_id=request_id, kind=kind,
                           detail=detail)
        try:
            with self.uow() as uow:
                uow.events.append(event)
                uow.commit()
        except StoreUnavailable:
            log.error("could not audit a refusal (%s): the database is unavailable",
                      refusal.reason.value)
        return refusal


def _change(uow: UnitOfWork, request: FailoverRequest,
            transition: Callable[[FailoverRequest], Change]) -> FailoverRequest | None:
    """Make one change of ``request`` and save it with its audit event; ``None`` when its
    status no longer allows it or somebody else changed it first (compare-and-set)."""
    try:
        change = transition(request)
    except TransitionRefused:
        return None
    if not uow.requests.save(change.request, request.version):
        return None
    if change.event is not None:
        uow.events.append(change.event)
    return change.request


def _azure_refusal(exc: GatewayError) -> Refusal:
    code = f" ({exc.code})" if exc.code else ""
    return Refusal(RefusalReason.AZURE_ERROR, f"Azure said{code}: {exc.message}")


def _postponed_before(uow: UnitOfWork, request_id: str) -> bool:
    return _postponements(uow, request_id) > 0


def _postponements(uow: UnitOfWork, request_id: str) -> int:
    """How often Azure could not take this request's start so far (the back-off's count)."""
    events = uow.events.search(AuditQuery(request_id=request_id,
                                          actions=frozenset({AuditAction.PROGRESS}), limit=500))
    return sum(1 for e in events if "start_postponed" in e.detail)


def _attempts_before(uow: UnitOfWork, request_id: str) -> int:
    """POSTs already audited for this request (``started`` then ``retry``)."""
    events = uow.events.search(AuditQuery(
        request_id=request_id, actions=frozenset({AuditAction.STARTED, AuditAction.RETRY}),
        limit=500))
    return len(events)


def _request_id_for(cmd: SubmitFailover) -> str:
    """The request id one submission always gets (the shape of ``new_request_id``)."""
    named = f"{cmd.actor.user_id}:{cmd.key}"
    return "fr-" + hashlib.sha256(named.encode()).hexdigest()[:8]
