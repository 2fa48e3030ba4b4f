"""The deployment's start pace on SQLModel: one row, claimed under its lock.

Every replica takes its batch starts' turns here, so the POSTs of the whole deployment, not
of each process, are one interval apart. The claim reads and writes the row in one
transaction that holds it: ``SELECT … FOR UPDATE`` on PostgreSQL (a second claimer waits for
the first to commit, then reads its turn), and on SQLite the file's one writer (the unit of
work's ``BEGIN IMMEDIATE``, after this process's ``writer_turn``). The caller commits at once:
the lock is held for the claim, never for the wait that follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from bot.domain.pacing import next_turn
from bot.store.engine import translating
from bot.store.tables import StartPaceRow

Row = StartPaceRow
BATCH_STARTS = "batch_starts"  # the one pace there is: failover POSTs of regional batches
# A claim takes milliseconds. A holder that hangs (a paused pod, a connection half gone)
# must not hold every replica's starts: past this, the claim fails as an unavailable
# database would, and the caller paces on its own (PostgreSQL's lock_timeout; SQLite's
# writer waits its busy timeout).
LOCK_TIMEOUT_MS = 2_000


class SqlStartPace:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def last_turn(self) -> datetime | None:
        """The latest turn taken (None: none yet); a plain read, no lock."""
        row = self._session.get(Row, BATCH_STARTS, populate_existing=True)
        return row.last_turn_at if row else None

    @translating
    def claim_next(self, interval: timedelta, now: Callable[[], datetime]) -> datetime:
        if self._dialect == "postgresql":
            self._session.execute(text(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}"))
        locked = (select(Row).where(col(Row.name) == BATCH_STARTS).with_for_update()
                  .execution_options(populate_existing=True))
        row = self._session.exec(locked).one_or_none()
        if row is None:  # the deployment's first claim: the row comes with it
            self._create_row()
            row = self._session.exec(locked).one()
        at = next_turn(row.last_turn_at, interval, now())  # the clock read under the lock
        self._session.execute(update(Row).where(col(Row.name) == BATCH_STARTS)
                              .values(last_turn_at=at),
                              execution_options={"synchronize_session": False})
        return at

    def _create_row(self) -> None:
        # Two replicas may both find it missing: the second insert is a no-op, and its
        # FOR UPDATE then waits for the first claim.
        insert = postgresql_insert if self._dialect == "postgresql" else sqlite_insert
        self._session.execute(insert(Row).values(name=BATCH_STARTS, last_turn_at=None)
                              .on_conflict_do_nothing(index_elements=["name"]))

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name
