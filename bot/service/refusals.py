"""Refusals are answers, not errors: each one is counted and written to the audit log.

Also the count of requests that reached an end (the metrics of outcomes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.domain.request import FailoverRequest
from bot.domain.rules import Refusal
from bot.service.dependencies import ServiceDeps
from bot.store.base import StoreUnavailable

log = logging.getLogger(__name__)


class Refusals:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps

    def refuse(self, refusal: Refusal, user: str, hub: str | None, kind: OperationKind | None,
               request_id: str | None = None, batch_id: str | None = None) -> Refusal:
        if self.deps.metrics is not None:
            self.deps.metrics.refusals_total.labels(reason=refusal.reason.value).inc()
        detail = {"reason": refusal.reason.value, "message": refusal.message}
        if refusal.allowed_at:
            detail["allowed_at"] = refusal.allowed_at.isoformat()
        event = AuditEvent(at=self.deps.clock.now(), action=AuditAction.REFUSED, actor=user,
                           hub=(hub or "")[:64] or None, request_id=request_id, kind=kind,
                           detail=detail, batch_id=batch_id)
        try:
            with self.deps.uow() as uow:
                uow.events.append(event)
                uow.commit()
        except StoreUnavailable:
            log.error("could not audit a refusal (%s): the database is unavailable",
                      refusal.reason.value)
        return refusal

    def record_refusal(self, refusal: Refusal, user: str, hub: str | None = None) -> Refusal:
        """For refusals decided at the edge (e.g. unparseable input): audit them too."""
        return self.refuse(refusal, user, hub, None)

    def record_cleaned(self, cleaned: Mapping[str, str], user: str, hub: str | None = None,
                       kind: OperationKind | None = None, request_id: str | None = None,
                       batch_id: str | None = None) -> None:
        """What cleaning removed from each input somebody typed (``bot.domain.user_text``),
        beside what the input was then used for: nothing hidden is dropped silently."""
        event = AuditEvent(at=self.deps.clock.now(), action=AuditAction.CLEANED, actor=user,
                           hub=(hub or "")[:64] or None, request_id=request_id, kind=kind,
                           detail={"cleaned": dict(cleaned)}, batch_id=batch_id)
        try:
            with self.deps.uow() as uow:
                uow.events.append(event)
                uow.commit()
        except StoreUnavailable:
            log.error("could not audit cleaned input: the database is unavailable")

    def counted(self, request: FailoverRequest) -> FailoverRequest:
        """Count a request that reached an end (and its operation's duration, if it ran)."""
        if self.deps.metrics is not None:
            self.deps.metrics.requests_total.labels(outcome=request.status.value).inc()
            if request.duration is not None:
                self.deps.metrics.operation_duration_seconds.labels(
                    kind=request.kind.value, outcome=request.status.value,
                ).observe(request.duration.total_seconds())
        return request
