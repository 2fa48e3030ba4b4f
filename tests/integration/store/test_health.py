"""The database's health is whether the bot can write: read-only connections are renewed
without a restart, and a SQLite file deleted or replaced under the bot is refused."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.domain.model import AuditAction, AuditEvent
from bot.store.base import StoreUnavailable
from bot.store.health import READ_ONLY, REPLACED, UNREACHABLE, WRITABLE
from bot.store.migrate import upgrade
from bot.store.sql import SqlUnitOfWorkFactory, make_engine, unit_of_work_factory


def _write(uow_factory: Callable[[], object], actor: str = "U0ALICE") -> None:
    with uow_factory() as uow:  # type: ignore[attr-defined]
        uow.events.append(AuditEvent(at=datetime.now(UTC), action=AuditAction.REQUESTED,
                                     actor=actor, hub="contoso-hub"))
        uow.commit()


def _count(factory: SqlUnitOfWorkFactory) -> int:
    with factory.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one())


def test_a_writable_database_is_healthy(db_url: str) -> None:
    factory = unit_of_work_factory(db_url)
    try:
        assert factory.health().state == WRITABLE
        _write(factory)
        assert _count(factory) == 1
    finally:
        factory.engine.dispose()


def test_an_unreachable_database_is_reported() -> None:
    factory = unit_of_work_factory("postgresql://nobody:pw@127.0.0.1:1/none")
    health = factory.health()
    assert health.state == UNREACHABLE and not health.writable


def test_a_read_only_session_fails_once_then_a_fresh_connection_writes(db_url: str) -> None:
    factory = unit_of_work_factory(db_url)
    try:
        # Leave one pooled connection unable to write, as one opened while the database
        # refused writes stays (PRAGMA query_only / default_transaction_read_only).
        read_only = ("PRAGMA query_only = ON" if db_url.startswith("sqlite")
                     else "SET SESSION default_transaction_read_only = on")
        with factory.engine.connect() as connection:
            connection.exec_driver_sql(read_only)
            connection.commit()
        with pytest.raises(StoreUnavailable):
            _write(factory)
        _write(factory)  # no restart: the pool dropped the read-only connection
        assert _count(factory) == 1
    finally:
        factory.engine.dispose()


def test_a_postgresql_database_refusing_writes_is_read_only(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's read-only transactions")
    separator = "%20" if "options=" in db_url else "?options="
    read_only_url = db_url + separator + "-cdefault_transaction_read_only%3Don"
    factory = unit_of_work_factory(read_only_url)
    try:
        assert factory.health().state == READ_ONLY
    finally:
        factory.engine.dispose()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> tuple[Path, SqlUnitOfWorkFactory]:
    path = tmp_path / "bot.db"
    upgrade(f"sqlite:///{path}")
    return path, unit_of_work_factory(make_engine(f"sqlite:///{path}"))


def test_a_deleted_sqlite_file_is_unhealthy_and_refused_with_one_log_line(
        sqlite_file: tuple[Path, SqlUnitOfWorkFactory],
        caplog: pytest.LogCaptureFixture) -> None:
    path, factory = sqlite_file
    _write(factory)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.ERROR, logger="bot.store.health"):
        health = factory.health()
        for _ in range(3):
            with pytest.raises(StoreUnavailable) as refused:
                _write(factory)
        assert factory.health().state == REPLACED
    assert health.state == REPLACED and "deleted" in health.detail
    assert "deleted" in str(refused.value)
    told = [r for r in caplog.records if "was deleted" in r.getMessage()]
    assert len(told) == 1, told
    factory.engine.dispose()
    assert not path.exists()  # no new, empty database was created in its place


def test_a_replaced_sqlite_file_is_refused(
        sqlite_file: tuple[Path, SqlUnitOfWorkFactory], tmp_path: Path) -> None:
    path, factory = sqlite_file
    _write(factory)
    other = tmp_path / "other.db"
    upgrade(f"sqlite:///{other}")
    os.replace(other, path)
    assert factory.health().state == REPLACED
    with pytest.raises(StoreUnavailable, match="replaced"):
        _write(factory)
    factory.engine.dispose()


def test_a_sqlite_writer_kept_waiting_past_the_busy_timeout_is_told_the_database_is_locked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The threads of one process queue for the file's writer on a lock: one that waits as long
    as SQLite itself would gets the same error, never hangs; the queue then moves on."""
    import bot.store.engine as engine_module
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    factory = unit_of_work_factory(url)
    holding, finish = threading.Event(), threading.Event()

    def hold() -> None:
        with factory():
            holding.set()
            finish.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        with pytest.raises(StoreUnavailable, match="database is locked"):
            _write(factory, "U0BOB")
    finally:
        finish.set()
        holder.join(timeout=10)
    _write(factory, "U0CAROL")
    assert _count(factory) == 1


def test_a_failed_unit_of_work_gives_the_writer_turn_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    factory = unit_of_work_factory(url)
    with pytest.raises(RuntimeError), factory():
        raise RuntimeError("a bug in a use case")
    done = threading.Event()
    writer = threading.Thread(target=lambda: (_write(factory), done.set()))
    writer.start()
    writer.join(timeout=10)
    assert done.is_set() and _count(factory) == 1
