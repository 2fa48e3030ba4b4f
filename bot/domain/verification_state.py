"""One move's verification as the store keeps it, from the POST to the verdict.

A verification is created when a request's POST is about to go (``waiting``); its baseline,
the hour before the POST, is read once the last minute before the POST has settled (Azure's
minutes fill in late, so a read before the POST would miss them) — while Azure is still
moving the hub, and never in the way of the POST. When the request succeeds it is
``watching`` until the verdict; when it fails there is nothing to verify (``skipped``).

Times (``posted_at``, ``completed_at``, ``next_look_at``, ``decided_at``) are the bot's
clock; ``minutes`` are Azure Monitor's, on Azure's timeline (:mod:`bot.domain.timeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain.model import AuditAction, AuditEvent, HubRef, OperationKind
from bot.domain.request import SYSTEM
from bot.domain.verification import Baseline, Figures, MetricMinutes, Outcome, Verdict


class VerifyStatus(StrEnum):
    WAITING = "waiting"  # the move has not ended yet
    WATCHING = "watching"
    VERIFIED = "verified"
    NOT_RECOVERED = "not_recovered"
    UNVERIFIED = "unverified"
    SKIPPED = "skipped"  # the move failed: the hub did not move, nothing to verify

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def verdict(self) -> bool:
        """A verdict people are told of (not ``skipped``)."""
        return self in _VERDICTS


_VERDICTS = frozenset({VerifyStatus.VERIFIED, VerifyStatus.NOT_RECOVERED,
                       VerifyStatus.UNVERIFIED})
_FINAL = _VERDICTS | {VerifyStatus.SKIPPED}
_AUDITED = {VerifyStatus.VERIFIED: AuditAction.VERIFIED,
            VerifyStatus.NOT_RECOVERED: AuditAction.NOT_RECOVERED,
            VerifyStatus.UNVERIFIED: AuditAction.UNVERIFIED}


@dataclass(frozen=True)
class Verification:
    request_id: str
    hub: HubRef
    kind: OperationKind
    posted_at: datetime
    status: VerifyStatus = VerifyStatus.WAITING
    batch_id: str | None = None
    baseline: Baseline | None = None  # None: not read yet
    completed_at: datetime | None = None
    # Every minute read (of the hour before, the last few once the baseline is taken).
    minutes: MetricMinutes = field(default_factory=MetricMinutes)
    figures: Figures | None = None  # the latest evidence minute
    reason: str = ""  # unverified: why; watching: the last failed read, in Azure's words
    next_look_at: datetime | None = None
    decided_at: datetime | None = None
    reads: int = 0  # requests to Azure Monitor so far
    announced: bool = False  # the verdict was told (a thread reply, or the board)
    version: int = 1

    def completed(self, at: datetime, first_look: datetime) -> Verification:
        return self._next(status=VerifyStatus.WATCHING, completed_at=at,
                          next_look_at=first_look)

    def skipped(self) -> Verification:
        return self._next(status=VerifyStatus.SKIPPED, next_look_at=None)

    def looked(self, verdict: Verdict, *, now: datetime, minutes: MetricMinutes,
               baseline: Baseline | None, reads: int,
               next_look_at: datetime | None) -> Verification:
        """After one look: the minutes and baseline it read, and what they came to."""
        status = self.status
        if self.status is VerifyStatus.WATCHING:
            status = VerifyStatus(verdict.outcome.value)
        return self._next(status=status, minutes=minutes, baseline=baseline,
                          figures=verdict.figures or self.figures, reason=verdict.reason,
                          reads=self.reads + reads,
                          next_look_at=None if status.final else next_look_at,
                          decided_at=now if status.final else None)

    def told(self) -> Verification:
        return self._next(announced=True)

    @property
    def verdict(self) -> Verdict:
        outcome = (Outcome(self.status.value) if self.status.verdict else Outcome.WATCHING)
        return Verdict(outcome, self.figures, self.reason)

    def audit_event(self, detail: dict[str, Any]) -> AuditEvent:
        """The verdict's audit event (``verified``, ``not_recovered``, ``unverified``)."""
        action = _AUDITED.get(self.status)
        if action is None or self.decided_at is None:
            raise ValueError(f"{self.request_id}: no verdict to audit ({self.status})")
        return AuditEvent(at=self.decided_at, action=action, actor=SYSTEM, hub=self.hub.name,
                          request_id=self.request_id, kind=self.kind, detail=detail,
                          batch_id=self.batch_id)

    def _next(self, **changes: Any) -> Verification:
        return replace(self, version=self.version + 1, **changes)


@dataclass(frozen=True)
class VerificationSummary:
    """A verification without its minutes (what a batch's board shows of it): read for a
    thousand hubs at once, where parsing every one's minutes would take a second."""

    request_id: str
    status: VerifyStatus
    figures: Figures | None = None
