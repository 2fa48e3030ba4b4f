from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.store.base import AuditQuery
from bot.store.sql import SqlUnitOfWork

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
UowFactory = Callable[[], SqlUnitOfWork]
FO, FB = OperationKind.FAILOVER, OperationKind.FAILBACK

# (minutes after T0, action, actor, hub, kind)
LOG = [
    (0, AuditAction.REQUESTED, "U_ALICE", "hub-a", FO),
    (1, AuditAction.APPROVED, "U_BOB", "hub-a", FO),
    (2, AuditAction.STARTED, "bot", "hub-a", FO),
    (3, AuditAction.REFUSED, "U_CAROL", "hub-b", FB),
    (4, AuditAction.REQUESTED, "U_ALICE", "hub-b", FB),
    (5, AuditAction.REJECTED, "U_BOB", "hub-b", FB),
    (6, AuditAction.SUCCEEDED, "bot", "hub-a", FO),
    (7, AuditAction.REFUSED, "U_CAROL", None, None),
]


@pytest.fixture
def logged(uow_factory: UowFactory) -> UowFactory:
    with uow_factory() as uow:
        for minute, action, actor, hub, kind in LOG:
            uow.events.append(AuditEvent(
                at=T0 + timedelta(minutes=minute), action=action, actor=actor, hub=hub,
                kind=kind, request_id=f"fr-{hub}" if hub else None, detail={"minute": minute},
            ))
        uow.commit()
    return uow_factory


def minutes(logged: UowFactory, **query: object) -> list[int]:
    with logged() as uow:
        events = uow.events.search(AuditQuery(**query))  # type: ignore[arg-type]
    return [event.detail["minute"] for event in events]


def test_an_event_round_trips(logged: UowFactory) -> None:
    with logged() as uow:
        query = AuditQuery(hub="hub-b", actions=frozenset({AuditAction.REFUSED}))
        [event] = uow.events.search(query)
    assert event.id is not None
    assert event == AuditEvent(at=T0 + timedelta(minutes=3), action=AuditAction.REFUSED,
                               actor="U_CAROL", hub="hub-b", kind=FB, request_id="fr-hub-b",
                               detail={"minute": 3}, id=event.id)
    assert event.at.tzinfo == UTC


def test_everything_comes_newest_first(logged: UowFactory) -> None:
    assert minutes(logged) == [7, 6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(("query", "expected"), [
    ({"hub": "hub-a"}, [6, 2, 1, 0]),
    ({"user": "U_ALICE"}, [4, 0]),
    ({"kind": FB}, [5, 4, 3]),
    ({"actions": frozenset({AuditAction.REFUSED, AuditAction.REJECTED})}, [7, 5, 3]),
    ({"request_id": "fr-hub-b"}, [5, 4, 3]),
    ({"since": T0 + timedelta(minutes=2), "until": T0 + timedelta(minutes=5)}, [4, 3, 2]),
    ({"hub": "hub-a", "user": "bot", "since": T0 + timedelta(minutes=3)}, [6]),
    ({"hub": "hub-zzz"}, []),
])
def test_search_filters(logged: UowFactory, query: dict[str, object],
                        expected: list[int]) -> None:
    assert minutes(logged, **query) == expected


def test_search_pages_through_the_log(logged: UowFactory) -> None:
    assert minutes(logged, limit=3) == [7, 6, 5]
    assert minutes(logged, limit=3, offset=3) == [4, 3, 2]
    assert minutes(logged, limit=3, offset=6) == [1, 0]


def test_details_that_are_not_json_types_are_kept_as_text(uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        uow.events.append(AuditEvent(at=T0, action=AuditAction.STARTED, actor="bot",
                                     detail={"eta": T0, "devices": 12}))
        uow.commit()
        [event] = uow.events.search(AuditQuery())
    assert event.detail == {"eta": str(T0), "devices": 12}
