"""Reading: a hub's status, the hub list, the audit log and one request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.drill import drill_line
from bot.domain.model import AuditEvent, HubState, OperationKind
from bot.domain.policy import Actor
from bot.domain.request import SYSTEM, FailoverRequest
from bot.domain.rules import Refusal, check_hub_name
from bot.domain.verification_state import Verification
from bot.hubs.gateway import GatewayError
from bot.service.changes import azure_refusal
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.service.verifying import Verifying
from bot.store.base import AuditQuery, StoreUnavailable

log = logging.getLogger(__name__)


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
    last_verdict: str | None = None  # the latest move's verification, in words
    drill: str | None = None  # a drill under way on the hub, in words


@dataclass(frozen=True)
class HubPage:
    hubs: list[HubState]
    page: int
    pages: int
    total: int
    moved_unrecorded: frozenset[str] = frozenset()  # hub names


class Reading:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals,
                 verifying: Verifying) -> None:
        self.deps, self.hubs, self.refusals = deps, hubs, refusals
        self.verifying = verifying

    def status(self, hub_name: str, actor: Actor | None = None) -> HubStatus | Refusal:
        """Live region and state, quota left, cool-down, open request and recent operations."""
        user = actor.user_id if actor else SYSTEM
        refusal = check_hub_name(hub_name)
        if refusal:
            return self.refusals.refuse(refusal, user, hub_name, None)
        hub = self.hubs.live_hub(hub_name)
        if isinstance(hub, Refusal):
            return self.refusals.refuse(hub, user, hub_name, None)
        with self.deps.uow() as uow:
            known = self.hubs.histories.last_known(
                uow, hub, or_home_long_ago=hub.next_kind is OperationKind.FAILBACK)
        # Far enough back to explain a move since the hub's region was last on record.
        read = self.hubs.read_history(hub, since=min(known[1], self.hubs.histories.window_start())
                                  if known else None)
        with self.deps.uow() as uow:
            history = self.hubs.histories.merge(uow, read)
            quota = {kind: self.hubs.quota_left(uow, hub.name, kind, history)
                     for kind in OperationKind}
            failback_at = self.hubs.failback_allowed_at(uow, hub.name, history)
            open_request = uow.requests.open_for_hub(hub.name)
            recent = uow.requests.recent(hub.name)
            durations = uow.requests.recent_durations(hub.name)
            verification = uow.verifications.latest_for_hub(hub.name)
            drill = uow.drills.open_for_hub(hub.name)
        self.hubs.histories.record_observed(self.deps.uow, hub.name, history)
        moved = self.hubs.histories.moved_unrecorded(known, hub, read, history)
        return HubStatus(hub, quota, failback_at, open_request, recent,
                         self.hubs.estimate(hub.device_count, durations),
                         quota_detail={kind: history.detail(kind) for kind in OperationKind},
                         history_note=history.unavailable, moved_unrecorded=moved,
                         last_verdict=self._verdict_line(verification),
                         drill=drill_line(drill) if drill else None)

    def list_hubs(self, page: int = 1, page_size: int = 20) -> HubPage | Refusal:
        try:
            hubs = sorted(self.deps.gateway.list_hubs(), key=lambda h: h.name.lower())
        except GatewayError as exc:
            return azure_refusal(exc)
        pages = max(1, -(-len(hubs) // page_size))
        page = min(max(1, page), pages)
        start = (page - 1) * page_size
        shown = hubs[start:start + page_size]
        return HubPage(shown, page, pages, len(hubs), self._moved_unrecorded(shown))

    def audit(self, query: AuditQuery) -> list[AuditEvent]:
        with self.deps.uow() as uow:
            return uow.events.search(query)

    def verification(self, request_id: str) -> Verification | None:
        """A move's verification (its verdict once it has one)."""
        with self.deps.uow() as uow:
            return uow.verifications.get(request_id)

    def _verdict_line(self, verification: Verification | None) -> str | None:
        if verification is None:
            return None
        return (f"`{verification.request_id}` {verification.kind.value}: "
                f"{self.verifying.words(verification)}")

    def get_request(self, request_id: str) -> FailoverRequest | None:
        with self.deps.uow() as uow:
            return uow.requests.get(request_id)

    def _moved_unrecorded(self, hubs: list[HubState]) -> frozenset[str]:
        """Hubs on a page that are not where the bot's records put them, and whose Activity
        Log holds nothing to explain it (read only for those: usually none)."""
        if self.deps.activity is None:
            return frozenset()
        moved = set()
        try:
            with self.deps.uow() as uow:
                known = {h.name: self.hubs.histories.last_known(uow, h) for h in hubs}
            for hub in hubs:
                last = known[hub.name]
                at_home = hub.next_kind is OperationKind.FAILOVER
                if last is None or last[0] == at_home or not hub.is_ready:
                    continue
                read = self.hubs.read_history(hub, since=min(last[1],
                                                         self.hubs.histories.window_start()))
                with self.deps.uow() as uow:
                    history = self.hubs.histories.merge(uow, read)
                if self.hubs.histories.moved_unrecorded(last, hub, read, history):
                    moved.add(hub.name)
        except StoreUnavailable:
            log.warning("hub list without the unrecorded-move check: database unavailable")
        return frozenset(moved)
