"""The hot queries are index lookups (SQLite's plans; a behaviour check, not a timing one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.domain.model import AuditAction, OperationKind
from bot.store.base import AuditQuery
from bot.store.migrate import upgrade
from bot.store.sql import SqlUnitOfWork, make_engine, unit_of_work_factory

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
Statements = list[tuple[str, Any]]


@pytest.fixture
def sqlite_engine(tmp_path: Any) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def plans_of(engine: Engine, action: Callable[[SqlUnitOfWork], object]) -> list[str]:
    """The query plan of every SELECT, UPDATE or DELETE that ``action`` issues."""
    issued: Statements = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            issued.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with unit_of_work_factory(engine)() as uow:
            action(uow)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert issued
    plans = []
    with engine.connect() as connection:
        for statement, parameters in issued:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append(" | ".join(str(row[-1]) for row in rows))
    return plans


def assert_uses(plans: list[str], index: str) -> None:
    for plan in plans:
        assert f"INDEX {index}" in plan, plan
        # Walking an index in order (under a LIMIT) is fine; reading the table or sorting
        # every match is what a million-row log cannot afford.
        for step in plan.split(" | "):
            assert not (step.startswith("SCAN") and "INDEX" not in step), plan
            # Sorting only the ties of an indexed order ("RIGHT PART") is cheap.
            assert "TEMP B-TREE FOR ORDER BY" not in step, plan


@pytest.mark.parametrize(("index", "action"), [
    ("ix_failover_request_quota",
     lambda uow: uow.requests.quota_starts("hub-a", OperationKind.FAILOVER, T0)),
    ("ix_failover_request_completed",
     lambda uow: uow.requests.last_completed("hub-a", OperationKind.FAILOVER)),
    ("uq_failover_request_open_hub", lambda uow: uow.requests.open_for_hub("hub-a")),
    ("ix_failover_request_expiry", lambda uow: uow.requests.due_for_expiry(T0)),
    ("ix_failover_request_unnotified", lambda uow: uow.announcements.unnotified()),
    ("ix_failover_request_hub_created", lambda uow: uow.requests.recent("hub-a")),
    ("ix_failover_request_batch", lambda uow: uow.requests.members("fb-00000001")),
    ("ix_failover_request_batch", lambda uow: uow.announcements.unnotified_members("fb-00000001")),
])
def test_request_lookups_use_an_index(sqlite_engine: Engine, index: str,
                                      action: Callable[[SqlUnitOfWork], object]) -> None:
    assert_uses(plans_of(sqlite_engine, action), index)


def test_claiming_due_polls_uses_an_index(sqlite_engine: Engine) -> None:
    plans = plans_of(sqlite_engine,
                     lambda uow: uow.leases.claim_due("w", T0, timedelta(minutes=1), 10))
    assert "INDEX ix_failover_request_due_poll" in plans[0], plans[0]


@pytest.mark.parametrize(("index", "query"), [
    ("ix_audit_event_hub_at", AuditQuery(hub="hub-a")),
    ("ix_audit_event_hub_at", AuditQuery(hub="hub-a", since=T0,
                                         actions=frozenset({AuditAction.REFUSED}))),
    ("ix_audit_event_actor_at", AuditQuery(user="U_ALICE")),
    ("ix_audit_event_request_id", AuditQuery(request_id="fr-1")),
    ("ix_audit_event_batch_id", AuditQuery(batch_id="fb-1a2b3c4d")),  # audit --batch
    ("ix_audit_event_batch_id", AuditQuery(batch_id="fb-1a2b3c4d", since=T0,
                                           actions=frozenset({AuditAction.STOPPED}))),
    ("ix_audit_event_at", AuditQuery(since=T0, until=T0 + timedelta(days=1))),
    ("ix_audit_event_at", AuditQuery()),
])
def test_audit_searches_use_an_index(sqlite_engine: Engine, index: str,
                                     query: AuditQuery) -> None:
    assert_uses(plans_of(sqlite_engine, lambda uow: uow.events.search(query)), index)
