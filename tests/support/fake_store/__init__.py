"""An in-memory store for the unit tier: the unit of work and its repositories on dicts.

As cosmicpython's ``FakeUnitOfWork``: the use cases run unchanged against it, with no
database file. It keeps the promises the SQL store makes that the use cases rely on, and
``tests/integration/store/test_store_contract.py`` checks each on both stores:

- a unit of work sees only what was committed before it began, and what it changes is seen
  by the next one only once it commits (leaving the ``with`` block rolls back);
- units of work take turns, one at a time, as writers to a SQLite file do; a second one
  opened in the same thread is an error here (on SQLite it would wait for itself);
- saves are compare-and-set on the version (``False`` for a stale one); a second open
  request for a hub raises ``HubLocked``; leases, schedule and announcements never change a
  request's version; datetimes come back in UTC, an audit event's detail through JSON.

What it does not model: PostgreSQL's concurrent writers, query plans, a database that
refuses writes (wrap the factory, as ``test_start_truth.FlakyCommits`` does).
"""

from __future__ import annotations

import itertools
import threading
from typing import Self

from bot.store.base import StoreUnavailable
from tests.support.fake_store.after_move import FakeConsumerActions, FakeVerifications
from tests.support.fake_store.drills import FakeDrills
from tests.support.fake_store.others import (
    FakeAuditLog,
    FakeBatchRepository,
    FakeStartPace,
)
from tests.support.fake_store.requests import (
    FakeAnnouncements,
    FakePollLeases,
    FakeRequestRepository,
)
from tests.support.fake_store.tables import Tables

__all__ = ["FakeStore", "FakeUnitOfWork"]

# A waiting unit of work gives up as a SQLite writer does, only sooner (SQLite waits
# bot.store.engine.SQLITE_BUSY_TIMEOUT_S): a test that deadlocks fails in seconds.
LOCK_TIMEOUT_S = 5.0


class FakeStore:
    """The unit-of-work factory (what ``bootstrap(uow=…)`` takes); holds what is committed."""

    def __init__(self) -> None:
        self.committed = Tables()
        self.ids = itertools.count(1)
        self.turn = threading.Lock()
        self.local = threading.local()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeUnitOfWork:
    """``with uow:`` … ``uow.commit()``; leaving without a commit rolls back."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._work = Tables()

    def __enter__(self) -> Self:
        store = self._store
        if getattr(store.local, "open", False):
            raise RuntimeError("a unit of work is already open in this thread "
                               "(on SQLite the second would wait for the first's lock)")
        if not store.turn.acquire(timeout=LOCK_TIMEOUT_S):
            raise StoreUnavailable("the database is unavailable: database is locked")
        store.local.open = True
        self._work = store.committed.copy()
        self.requests = FakeRequestRepository(self._tables)
        self.leases = FakePollLeases(self._tables)
        self.announcements = FakeAnnouncements(self._tables)
        self.events = FakeAuditLog(self._tables, store.ids)
        self.batches = FakeBatchRepository(self._tables)
        self.pace = FakeStartPace(self._tables)
        self.verifications = FakeVerifications(self._tables)
        self.consumer_actions = FakeConsumerActions(self._tables)
        self.drills = FakeDrills(lambda: self._tables().drills)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.rollback()
        finally:
            self._store.local.open = False
            self._store.turn.release()

    def commit(self) -> None:
        self._store.committed = self._work.copy()

    def rollback(self) -> None:
        self._work = self._store.committed.copy()

    def _tables(self) -> Tables:
        return self._work
