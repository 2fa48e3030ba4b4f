"""Verifications and consumer actions on SQLModel (bot.store.after_move's repositories).

A verification row holds its baseline, the minutes read and the verdict's figures as JSON:
they are only ever read whole, by the one process looking, and stay small (about 80 minutes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from bot.domain.model import HubRef, OperationKind
from bot.domain.verification import Baseline, Figures, MetricMinutes, MinutePoint
from bot.domain.verification_state import Verification, VerificationSummary, VerifyStatus
from bot.store.after_move_tables import VerificationRow
from bot.store.engine import translating
from bot.store.rows import dialect, updated_row

Row = VerificationRow
_LOOKED = [VerifyStatus.WAITING.value, VerifyStatus.WATCHING.value]
_VERDICTS = [s.value for s in VerifyStatus if s.verdict]


class SqlVerifications:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def add(self, verification: Verification) -> bool:
        if self._session.get(Row, verification.request_id) is not None:
            return False
        self._session.add(Row(**_values(verification), lease_owner=None, lease_expires_at=None))
        self._session.flush()
        return True

    @translating
    def get(self, request_id: str) -> Verification | None:
        row = self._session.get(Row, request_id, populate_existing=True)
        return _to_verification(row) if row is not None else None

    @translating
    def save(self, verification: Verification, expected_version: int) -> bool:
        statement = (update(Row).where(col(Row.request_id) == verification.request_id,
                                       col(Row.version) == expected_version)
                     .values(**_values(verification)))
        return bool(self._session.execute(statement).rowcount)  # type: ignore[attr-defined]

    @translating
    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Verification]:
        free = or_(col(Row.lease_expires_at).is_(None), col(Row.lease_expires_at) <= now,
                   col(Row.lease_owner) == owner)
        due = and_(col(Row.status).in_(_LOOKED), col(Row.next_look_at) <= now)
        untold = and_(col(Row.announced).is_(False), col(Row.status).in_(_VERDICTS))
        query = (select(Row.request_id).where(or_(due, untold), free)
                 .order_by(col(Row.next_look_at)).limit(limit))
        if dialect(self._session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for request_id in list(self._session.exec(query)):
            statement = (update(Row).where(col(Row.request_id) == request_id,
                                           or_(due, untold), free)
                         .values(lease_owner=owner, lease_expires_at=now + lease))
            row = updated_row(self._session, statement, Row)
            if row is not None:
                claimed.append(_to_verification(row))
        return claimed

    @translating
    def release(self, request_id: str, owner: str) -> None:
        self._session.execute(update(Row).where(col(Row.request_id) == request_id,
                                                col(Row.lease_owner) == owner)
                              .values(lease_owner=None, lease_expires_at=None))

    @translating
    def next_due(self, now: datetime) -> datetime | None:
        query = (select(Row.next_look_at).where(col(Row.status).in_(_LOOKED),
                                                col(Row.next_look_at).is_not(None))
                 .order_by(col(Row.next_look_at)).limit(1))
        return self._session.exec(query).first()

    @translating
    def latest_for_hub(self, hub: str) -> Verification | None:
        query = (select(Row).where(col(Row.hub_name) == hub,
                                   col(Row.status) != VerifyStatus.SKIPPED.value)
                 .order_by(col(Row.posted_at).desc()).limit(1))
        row = self._session.exec(query).first()
        return _to_verification(row) if row is not None else None

    @translating
    def summaries(self, request_ids: Sequence[str]) -> dict[str, VerificationSummary]:
        found: dict[str, VerificationSummary] = {}
        ids = list(request_ids)
        for start in range(0, len(ids), 500):  # within every driver's parameter limit
            # Not the minutes: a thousand rows' JSON minutes take a second to parse.
            query = (select(Row.request_id, Row.status, Row.figures)
                     .where(col(Row.request_id).in_(ids[start:start + 500])))
            for request_id, status, figures in self._session.exec(query):
                found[request_id] = VerificationSummary(request_id, VerifyStatus(status),
                                                        _figures(figures))
        return found


def _values(v: Verification) -> dict[str, Any]:
    return dict(
        request_id=v.request_id, hub_name=v.hub.name, subscription_id=v.hub.subscription_id,
        resource_group=v.hub.resource_group, kind=v.kind.value, batch_id=v.batch_id,
        status=v.status.value, posted_at=v.posted_at, completed_at=v.completed_at,
        baseline=_baseline_json(v.baseline), minutes=_minutes_json(v.minutes),
        figures=_figures_json(v.figures), reason=v.reason, next_look_at=v.next_look_at,
        decided_at=v.decided_at, reads=v.reads, announced=v.announced, version=v.version)


def _to_verification(row: VerificationRow) -> Verification:
    return Verification(
        request_id=row.request_id,
        hub=HubRef(row.hub_name, row.subscription_id, row.resource_group),
        kind=OperationKind(row.kind), posted_at=row.posted_at,
        status=VerifyStatus(row.status), batch_id=row.batch_id,
        baseline=_baseline(row.baseline), completed_at=row.completed_at,
        minutes=_minutes(row.minutes), figures=_figures(row.figures), reason=row.reason,
        next_look_at=row.next_look_at, decided_at=row.decided_at, reads=row.reads,
        announced=row.announced, version=row.version)


def _baseline_json(baseline: Baseline | None) -> str | None:
    if baseline is None:
        return None
    return json.dumps({"devices": baseline.devices, "telemetry": baseline.telemetry,
                       "problem": baseline.problem})


def _baseline(text: str | None) -> Baseline | None:
    if text is None:
        return None
    plain = json.loads(text)
    return Baseline(plain["devices"], plain["telemetry"], plain["problem"])


def _minutes_json(minutes: MetricMinutes) -> str:
    return json.dumps({"devices": [[p.start.isoformat(), p.value] for p in minutes.devices],
                       "telemetry": [[p.start.isoformat(), p.value] for p in minutes.telemetry]})


def _minutes(text: str) -> MetricMinutes:
    plain = json.loads(text or "{}")

    def points(name: str) -> tuple[MinutePoint, ...]:
        return tuple(MinutePoint(datetime.fromisoformat(at), value)
                     for at, value in plain.get(name, []))
    return MetricMinutes(points("devices"), points("telemetry"))


def _figures_json(figures: Figures | None) -> str | None:
    if figures is None:
        return None
    return json.dumps({"minute": figures.minute.isoformat(), "devices": figures.devices,
                       "baseline_devices": figures.baseline_devices,
                       "telemetry": figures.telemetry,
                       "baseline_telemetry": figures.baseline_telemetry,
                       "minutes_after": figures.minutes_after})


def _figures(text: str | None) -> Figures | None:
    if text is None:
        return None
    plain = json.loads(text)
    return Figures(datetime.fromisoformat(plain["minute"]), plain["devices"],
                   plain["baseline_devices"], plain["telemetry"], plain["baseline_telemetry"],
                   plain["minutes_after"])
