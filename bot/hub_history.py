"""What the quota and the cool-down count: the bot's own requests and Azure's Activity Log.

The service asks :class:`HubHistories` before it shows or checks a quota. Reading the
Activity Log happens outside any database transaction (it is an HTTP call); merging with the
bot's own requests happens inside the caller's unit of work. When the Activity Log cannot be
read the bot falls back to its own records and says so (``HubHistory.unavailable``).
Operations done outside the bot are written to the audit log as ``observed`` events, once
each (keyed by the Activity Log's operation id).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.history import (
    ActivityOperation,
    Outcome,
    OwnStart,
    SeenOperation,
    classify,
    last_failover,
    moved_unrecorded,
    sources,
)
from bot.domain.model import AuditAction, AuditEvent, HubRef, HubState, OperationKind
from bot.domain.regions import same_region
from bot.domain.request import QUOTA_STATUSES, FailoverRequest, RequestStatus
from bot.domain.rules import (
    Limits,
    Refusal,
    check_cooldown,
    check_quota,
    quota_remaining,
    window_start,
)
from bot.hubs.activity import READ_PERMISSION, ActivityLogReader
from bot.hubs.gateway import CouldNotRead, Forbidden, GatewayError, Throttled
from bot.store.base import AuditQuery, StoreUnavailable, UnitOfWork

log = logging.getLogger(__name__)

# The bot's own requests a quota check looks at for labels and matching: Azure allows four
# operations a day per hub, so the last 20 requests cover any 24 hours many times over.
OWN_LOOKBACK = 20
# The Activity Log keeps 90 days.
ACTIVITY_RETENTION = timedelta(days=89)


@dataclass(frozen=True)
class ActivityRead:
    """One look at a hub's Activity Log: its failover operations, or why there are none."""

    ref: HubRef
    operations: tuple[ActivityOperation, ...] = ()
    unavailable: str | None = None
    at_home_now: bool = True


@dataclass(frozen=True)
class HubHistory:
    """A hub's operations in the quota window, from both sources, classified."""

    seen: tuple[SeenOperation, ...] = ()
    own: tuple[FailoverRequest, ...] = ()  # the bot's requests that count, in the window
    unavailable: str | None = None
    since: datetime | None = None
    # The bot's own requests its store does not count today (failed, or approved before
    # the window): if Azure ran one in the window, the Activity Log's record of it counts.
    uncounted_own: frozenset[str] = frozenset()

    def outside(self, kind: OperationKind | None = None) -> list[SeenOperation]:
        """What Azure counts that the bot's own records do not: operations done outside the
        bot, and the bot's own that Azure ran although the bot does not count them (a request
        it recorded as failed, e.g. after a lost answer)."""
        return [s for s in self.seen if (s.outside or s.own in self.uncounted_own)
                and (kind is None or s.kind is kind)
                and s.operation.outcome is not Outcome.FAILED
                and (self.since is None or s.operation.started_at >= self.since)]

    def own_ids(self, kind: OperationKind) -> list[str]:
        return [r.id for r in self.own if r.kind is kind]

    def detail(self, kind: OperationKind) -> str:
        """Where today's count of ``kind`` comes from, for the dialog and status."""
        if self.unavailable:
            return f"this bot's own count only: {self.unavailable}"
        return sources(self.own_ids(kind), self.outside(kind))


@dataclass
class HubHistories:
    reader: ActivityLogReader | None
    clock: Clock
    limits: Limits = field(default_factory=Limits)
    _observing: threading.Lock = field(default_factory=threading.Lock)
    _recorded: set[str] = field(default_factory=set)  # operation ids known to be audited

    # ---- reading (no transaction open) --------------------------------------------------

    def read(self, ref: HubRef, at_home_now: bool, since: datetime | None = None) -> ActivityRead:
        if self.reader is None:
            return ActivityRead(ref, at_home_now=at_home_now)
        now = self.clock.now()
        since = max(since or self.window_start(), now - ACTIVITY_RETENTION)
        try:
            operations = self.reader.failover_operations(ref, since)
        except Forbidden as exc:
            log.warning("Activity Log of %s not readable: %s", ref.name, exc.code)
            return ActivityRead(ref, unavailable=(
                f"Azure's Activity Log is not readable ({exc.code or 'forbidden'}; grant "
                f"{READ_PERMISSION}), so operations done outside this bot are not counted"),
                at_home_now=at_home_now)
        except Throttled as exc:
            return ActivityRead(ref, unavailable=(
                "Azure's Activity Log is throttled right now, so operations done outside this "
                f"bot are not counted ({exc.code})"), at_home_now=at_home_now)
        except CouldNotRead as exc:  # too slow, endless or malformed
            return ActivityRead(ref, unavailable=(
                f"Azure's Activity Log could not be read ({exc.reason}), so operations done "
                "outside this bot are not counted"), at_home_now=at_home_now)
        except GatewayError as exc:
            return ActivityRead(ref, unavailable=(
                "Azure's Activity Log could not be read, so operations done outside this bot "
                f"are not counted ({exc.code or exc.message})"), at_home_now=at_home_now)
        return ActivityRead(ref, tuple(operations), at_home_now=at_home_now)

    def window_start(self) -> datetime:
        return window_start(self.clock.now(), self.limits.window)

    # ---- merging (inside the caller's unit of work) -------------------------------------

    def merge(self, uow: UnitOfWork, read: ActivityRead) -> HubHistory:
        since = self.window_start()
        recent = uow.requests.recent(read.ref.name, OWN_LOOKBACK)
        own = tuple(r for r in recent if r.status in QUOTA_STATUSES
                    and (r.decided_at or r.created_at) >= since)
        if read.unavailable or self.reader is None:
            return HubHistory(own=own, unavailable=read.unavailable, since=since)
        starts = [OwnStart(r.id, r.started_at) for r in recent if r.started_at is not None]
        seen = classify(read.operations, starts, read.at_home_now)
        counted = {r.id for r in own}
        uncounted = frozenset(r.id for r in recent if r.id not in counted)
        return HubHistory(tuple(seen), own, None, since, uncounted)

    def quota_refusal(self, uow: UnitOfWork, hub: str, kind: OperationKind,
                      history: HubHistory, *, spare: int = 0) -> Refusal | None:
        """The quota and cool-down check, counting outside operations too; ``spare``: how
        many must be left after this one (a drill never uses the day's last failover)."""
        now = self.clock.now()
        starts = uow.requests.quota_starts(hub, kind, window_start(now, self.limits.window))
        outside = history.outside(kind)
        limits = self.limits
        if spare:
            limits = replace(limits, failovers_per_day=max(0, limits.failovers_per_day - spare)
                             if kind is OperationKind.FAILOVER else limits.failovers_per_day,
                             failbacks_per_day=max(0, limits.failbacks_per_day - spare)
                             if kind is OperationKind.FAILBACK else limits.failbacks_per_day)
        refusal = check_quota([*starts, *(s.operation.started_at for s in outside)], kind,
                              now, limits)
        if refusal is not None and outside and refusal.allowed_at is not None:
            refusal = Refusal(refusal.reason, f"{refusal.message} Counted: "
                              f"{sources(history.own_ids(kind), outside)}.", refusal.allowed_at)
        if refusal is not None:
            return refusal
        own_last = uow.requests.last_completed(hub, OperationKind.FAILOVER)
        last, outside_last = self.last_failover(own_last, history)
        refusal = check_cooldown(kind, last, now, self.limits)
        if refusal is not None and outside_last is not None:
            op = outside_last.operation
            who = f"by this bot ({outside_last.own})" if outside_last.own else op.who
            where = ("as Azure's Activity Log shows" if outside_last.own
                     else "outside this bot")
            refusal = Refusal(refusal.reason, f"{refusal.message} That failover was done "
                              f"{who} at {op.started_at.astimezone(UTC):%H:%M} UTC, {where}.",
                              refusal.allowed_at)
        return refusal

    def quota_left(self, uow: UnitOfWork, hub: str, kind: OperationKind,
                   history: HubHistory) -> int:
        now = self.clock.now()
        starts = uow.requests.quota_starts(hub, kind, window_start(now, self.limits.window))
        outside = [s.operation.started_at for s in history.outside(kind)]
        return quota_remaining([*starts, *outside], kind, now, self.limits)

    def failback_allowed_at(self, uow: UnitOfWork, hub: str,
                            history: HubHistory) -> datetime | None:
        own_last = uow.requests.last_completed(hub, OperationKind.FAILOVER)
        last, _ = self.last_failover(own_last, history)
        cooling = check_cooldown(OperationKind.FAILBACK, last, self.clock.now(), self.limits)
        return cooling.allowed_at if cooling else None

    def last_failover(self, own_last: datetime | None, history: HubHistory,
                      ) -> tuple[datetime | None, SeenOperation | None]:
        """The latest successful failover's end, and the outside operation if it was one."""
        outside = last_failover(history.outside(OperationKind.FAILOVER))
        outside_end = (outside.operation.ended_at or outside.operation.started_at
                       if outside else None)
        if outside_end is not None and (own_last is None or outside_end > own_last):
            return outside_end, outside
        return own_last, None

    # ---- Microsoft-initiated moves ------------------------------------------------------

    def last_known(self, uow: UnitOfWork, hub: HubState, *,
                   or_home_long_ago: bool = False) -> tuple[bool, datetime] | None:
        """Whether the hub was at home when last on record, and since when: the bot's own
        last operation on it, or the last outside one it observed, whichever is later.

        ``or_home_long_ago``: with no record at all, assume the hub was at home when the
        Activity Log's retention begins (so a hub away from home with no failover in 90 days
        is flagged).
        """
        known: tuple[bool, datetime] | None = None
        for request in uow.requests.recent(hub.name, OWN_LOOKBACK):
            if request.status is RequestStatus.SUCCEEDED and request.completed_at:
                region = request.region_after or request.region_target
                known = same_region(region, hub.home_region), request.completed_at
                break
            if request.status is RequestStatus.FAILED and request.started_at \
                    and request.completed_at:
                known = same_region(request.region_before, hub.home_region), \
                    request.completed_at
                break
        seen = uow.events.search(AuditQuery(hub=hub.name, limit=1,
                                            actions=frozenset({AuditAction.OBSERVED})))
        if seen and seen[0].kind is not None and seen[0].detail.get("ended_at"):
            ended = datetime.fromisoformat(str(seen[0].detail["ended_at"]))
            succeeded = seen[0].detail.get("outcome") == Outcome.SUCCEEDED.value
            # After a successful failback the hub is home; a failed failover left it there.
            at_home = (seen[0].kind is OperationKind.FAILBACK) == succeeded
            if known is None or ended > known[1]:
                known = at_home, ended
        if known is None and or_home_long_ago:
            known = True, self.clock.now() - ACTIVITY_RETENTION
        return known

    def moved_unrecorded(self, known: tuple[bool, datetime] | None, hub: HubState,
                         read: ActivityRead, history: HubHistory) -> bool:
        """The hub is not where the records say it should be (needs a readable log)."""
        if known is None or read.unavailable or self.reader is None or not hub.is_ready:
            return False
        at_home_then, since = known
        outside_ops = [s.operation for s in history.seen if s.outside]
        return moved_unrecorded(at_home_then, since,
                                hub.next_kind is OperationKind.FAILOVER, outside_ops)

    # ---- the audit log ------------------------------------------------------------------

    def record_observed(self, uow_factory: Callable[[], UnitOfWork], hub: str,
                        history: HubHistory) -> int:
        """Write each ended outside operation as an ``observed`` event, once; returns how
        many were new."""
        ended = [s for s in history.seen if s.outside and s.operation.outcome
                 is not Outcome.RUNNING and s.operation.operation_id not in self._recorded]
        if not ended:
            return 0  # nothing new: no database round trip on every dialog
        oldest = min(s.operation.started_at for s in ended)
        with self._observing:  # one writer per process; the id check makes it idempotent
            try:
                with uow_factory() as uow:
                    known = _observed_ids(uow, hub, oldest)
                    new = [s for s in ended if s.operation.operation_id not in known]
                    for seen in new:
                        uow.events.append(_observed_event(hub, seen))
                    uow.commit()
                if len(self._recorded) > 10_000:  # bounded; the audit log stays the truth
                    self._recorded.clear()
                self._recorded.update(s.operation.operation_id for s in ended)
            except StoreUnavailable:
                log.error("could not audit outside operations on %s: the database is "
                          "unavailable", hub)
                return 0
        return len(new)


def _observed_ids(uow: UnitOfWork, hub: str, since: datetime) -> set[str]:
    events = uow.events.search(AuditQuery(hub=hub, actions=frozenset({AuditAction.OBSERVED}),
                                          since=since, limit=500))
    return {str(e.detail.get("operation_id")) for e in events}


def _observed_event(hub: str, seen: SeenOperation) -> AuditEvent:
    op = seen.operation
    return AuditEvent(
        at=op.started_at, action=AuditAction.OBSERVED, actor=(op.caller or "unknown")[:64],
        hub=hub, kind=seen.kind,
        detail={k: v for k, v in {
            "operation_id": op.operation_id, "correlation_id": op.correlation_id,
            "caller": op.caller, "client": op.client, "outcome": op.outcome.value,
            "started_at": op.started_at.isoformat(),
            "ended_at": op.ended_at.isoformat() if op.ended_at else None,
            "message": f"{seen.kind.value} {op.who}, outside this bot: {op.outcome.value}",
        }.items() if v not in (None, "")})

