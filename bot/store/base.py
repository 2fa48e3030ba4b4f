"""What the rest of the bot may ask of the audit store (no SQL here).

The SQLModel implementation is :mod:`bot.store.sql`. Use cases open a unit of work, read and
change through its repositories, and ``commit()``; leaving the ``with`` block without a commit
rolls back. Saves are compare-and-set on the request's version: they change a row only if
nobody changed it since it was read, so two concurrent approvals cannot both win.

A request is reached three ways, one per reason to change: ``uow.requests`` (the aggregate
and the use cases' queries), ``uow.leases`` (the poller's leases and schedule) and
``uow.announcements`` (what people were told); only the first changes its version.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Self

from bot.domain.batch import Batch
from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.domain.request import FailoverRequest
from bot.store.after_move import ConsumerActionRepository, VerificationRepository
from bot.store.drill_base import DrillRepository


class HubLocked(Exception):
    """Another open request already holds this hub (enforced by a unique index)."""


class StoreUnavailable(Exception):
    """The database cannot be reached; nothing was changed."""


# The most audit events one query returns (the CLI's `--limit`; a million-row log is the size
# the audit indexes are held to).
MAX_AUDIT_LIMIT = 1_000_000
_MAX_OFFSET = 2**62  # within a BIGINT on both databases


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit search, newest first. ``limit`` and ``offset`` are checked here, so
    no caller can hand the database a negative or an out-of-range number (a negative LIMIT
    means "no limit" to SQLite, an error to PostgreSQL; a huge one overflows the driver)."""

    hub: str | None = None
    user: str | None = None
    kind: OperationKind | None = None
    actions: frozenset[AuditAction] = frozenset()
    request_id: str | None = None
    batch_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_AUDIT_LIMIT:
            raise ValueError(f"the limit must be between 1 and {MAX_AUDIT_LIMIT:,}, "
                             f"not {self.limit}")
        if not 0 <= self.offset <= _MAX_OFFSET:
            raise ValueError(f"the offset must be between 0 and {_MAX_OFFSET}, not {self.offset}")


class RequestRepository(Protocol):
    """The request aggregate and what the use cases ask about requests.

    A request's life changes only through :meth:`save`; the poller's leases and the record of
    what people were told are kept apart (:class:`PollLeases`, :class:`Announcements`) and
    never change a request's version."""

    def add(self, request: FailoverRequest) -> None:
        """Insert a new request; raises HubLocked if the hub already has an open one."""
        ...

    def get(self, request_id: str) -> FailoverRequest | None: ...

    def open_for_hub(self, hub: str) -> FailoverRequest | None:
        """The request currently holding ``hub`` (awaiting approval, approved or running)."""
        ...

    def open_requests(self, limit: int = 100) -> list[FailoverRequest]:
        """Requests holding a hub now (awaiting approval, approved, running), newest first."""
        ...

    def save(self, request: FailoverRequest, expected_version: int) -> bool:
        """Write a request changed by one of its transition methods, if the stored one is
        still at ``expected_version`` (compare-and-set); ``False`` when somebody else changed
        it first. Identity and the announcement bookkeeping are never written here."""
        ...

    def quota_starts(self, hub: str, kind: OperationKind, since: datetime) -> list[datetime]:
        """Approval times of approved, running and succeeded ``kind`` operations since ``since``."""
        ...

    def last_completed(self, hub: str, kind: OperationKind) -> datetime | None:
        """When the last successful ``kind`` on ``hub`` completed."""
        ...

    def recent_durations(self, hub: str, limit: int = 5) -> list[timedelta]:
        """Durations of this hub's last successful operations, newest first."""
        ...

    def recent(self, hub: str, limit: int = 5) -> list[FailoverRequest]:
        """The hub's latest requests, newest first."""
        ...

    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[FailoverRequest]:
        """Requests still awaiting approval whose ``expires_at`` has passed."""
        ...

    def count_running(self) -> int:
        """How many operations are running in Azure right now (all replicas)."""
        ...

    def members(self, batch_id: str) -> list[FailoverRequest]:
        """A batch's requests (a retried hub has several), in start order."""
        ...

    def last_batch_slot(self) -> datetime | None:
        """The latest start slot of a batch's hub not started yet."""
        ...


class PollLeases(Protocol):
    """The poller's bookkeeping on requests: who follows which one (a lease) and when it is
    looked at next. Shared by replicas; none of it changes a request's version."""

    def claim_due(self, owner: str, now: datetime, lease: timedelta, limit: int, *,
                  skip: Collection[str] = ()) -> list[FailoverRequest]:
        """Lease up to ``limit`` requests that need the poller, except those in ``skip`` (the
        owner's polls still in flight).

        Those are running (or approved) requests whose ``next_poll_at <= now``, and finished
        ones whose end was never announced (``notified_version < version``), in both cases
        with no live lease by another owner. Claiming sets
        ``lease_owner=owner`` and ``lease_expires_at=now+lease`` atomically, so two workers
        never hold one request (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
        """
        ...

    def take_lease(self, request_id: str, owner: str, until: datetime) -> None:
        """Lease the request to ``owner`` until ``until`` (a start, for its POST)."""
        ...

    def renew_lease(self, request_id: str, owner: str, until: datetime) -> bool:
        """Extend our lease; ``False`` if it was lost to another owner."""
        ...

    def release_lease(self, request_id: str, owner: str, next_poll_at: datetime) -> None:
        """Give up our lease and say when the request should next be polled."""
        ...

    def live_leases(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """``(request id, owner)`` of the leases not yet expired (to find dead owners')."""
        ...

    def schedule_poll(self, request_id: str, next_poll_at: datetime) -> None:
        """When the poller should look at the request next."""
        ...

    def next_due(self, after: datetime) -> datetime | None:
        """The soonest poll or start scheduled after ``after`` (so the poller wakes then)."""
        ...


class Announcements(Protocol):
    """Where each request was announced in chat and up to which version people have seen it
    (what :mod:`bot.service.notices` and the board keeper write). Never changes a request's
    version; a version seen never moves backwards."""

    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        """Remember where the request was announced (the version is unchanged)."""
        ...

    def mark_notified(self, request_id: str, version: int) -> None:
        """People have seen the request as of ``version``; never moves backwards."""
        ...

    def told_latest(self, request_id: str) -> bool:
        """Whether people were told of the request's latest change (its end, once ended)."""
        ...

    def mark_members_notified(self, versions: dict[str, int]) -> None:
        """A board showed these requests as of these versions."""
        ...

    def unnotified(self, limit: int = 100) -> list[FailoverRequest]:
        """Requests whose status changed after their last successful chat notification
        (not a batch's: its board shows them)."""
        ...

    def unnotified_members(self, batch_id: str) -> list[FailoverRequest]:
        """A batch's requests changed since a board (or failure reply) showed them."""
        ...


class BatchRepository(Protocol):
    def add(self, batch: Batch) -> None: ...

    def get(self, batch_id: str) -> Batch | None: ...

    def save(self, batch: Batch, expected_version: int) -> bool:
        """Compare-and-set, like requests: ``False`` when somebody else changed it first."""
        ...

    def attach_message(self, batch_id: str, message_ts: str) -> None:
        """Where the approval message (then the board) was posted; set once."""
        ...

    def recent(self, limit: int = 5) -> list[Batch]: ...

    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[Batch]: ...

    def claim_boards(self, owner: str, now: datetime, until: datetime,
                     limit: int = 20) -> list[Batch]:
        """Lease the boards no live owner keeps: decided and unfinished, or never posted."""
        ...

    def board_digest(self, batch_id: str) -> tuple[str | None, datetime | None]:
        """What the board last showed (a digest) and when it was edited."""
        ...

    def board_shown(self, batch_id: str, owner: str, digest: str, at: datetime,
                    finished: bool) -> None:
        """The board now shows ``digest``; ``finished``: nothing more will change."""
        ...

    def reopen_board(self, batch_id: str) -> None: ...


class StartPace(Protocol):
    """The deployment's one pace of batch starts (ARM's write limits), shared by replicas."""

    def last_turn(self) -> datetime | None:
        """The latest turn any replica took (None: none yet)."""
        ...

    def claim_next(self, interval: timedelta, now: Callable[[], datetime]) -> datetime:
        """Take the next start's turn: ``now()``, or ``interval`` after the latest turn taken
        anywhere, whichever is later (``bot.domain.pacing.next_turn``). Claims are
        serialised by the database, so concurrent callers (threads, replicas) get turns at
        least ``interval`` apart. ``now`` is read once the pace is locked: a claim that
        queued for the lock must not be given a turn already past when it gets it (it would
        POST at once, beside the one before it). Commit at once: the pace stays locked
        until then."""
        ...


class AuditLog(Protocol):
    def append(self, event: AuditEvent) -> None:
        """Add one event; the log is append-only."""
        ...

    def search(self, query: AuditQuery) -> list[AuditEvent]:
        """Events matching ``query``, newest first."""
        ...


class UnitOfWork(Protocol):
    @property
    def requests(self) -> RequestRepository: ...

    @property
    def leases(self) -> PollLeases: ...

    @property
    def announcements(self) -> Announcements: ...

    @property
    def events(self) -> AuditLog: ...

    @property
    def batches(self) -> BatchRepository: ...

    @property
    def pace(self) -> StartPace: ...

    @property
    def verifications(self) -> VerificationRepository: ...  # after a move (store.after_move)

    @property
    def consumer_actions(self) -> ConsumerActionRepository: ...

    @property
    def drills(self) -> DrillRepository: ...  # drills and their schedules (store.drill_base)

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
