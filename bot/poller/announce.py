"""The poller's side of announcing: the sweep for unannounced changes, and the record of
what was sent (written through :mod:`bot.service.notices`, the one owner of it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.poller.ratelimit import MessageKind, Outgoing, RateLimitedNotifier
from bot.poller.watch import Watch
from bot.service.notices import record_milestone, record_notified
from bot.store.base import UnitOfWork, UnitOfWorkFactory
from bot.telemetry import Metrics

# How long the listener that recorded a request has to announce it before a sweep does.
ANNOUNCE_GRACE = timedelta(seconds=60)


def sweep_unnotified(uow_factory: UnitOfWorkFactory, outbox: RateLimitedNotifier,
                     now: datetime, limit: int, metrics: Metrics | None) -> None:
    """Announce state changes nobody has announced yet (``notified_version < version``).

    State edits are idempotent and coalesced, so re-queuing them is free. Completions are
    not announced here: a finished, unannounced request is claimed through its lease
    (``claim_due``), so exactly one replica owns its notice. A request just recorded is
    left to the listener that recorded it for ``ANNOUNCE_GRACE``, so that a replica's
    sweep does not post its approval message a second time.
    """
    with uow_factory() as uow:
        unnotified = uow.announcements.unnotified(limit=limit)
        if metrics is not None:
            metrics.operations_running.set(uow.requests.count_running())
    for request in unnotified:
        if request.status.ran:
            continue
        fresh = request.message_ts is None and now - request.created_at < ANNOUNCE_GRACE
        if not fresh:
            outbox.request_changed(request)


def record_sent(uow: UnitOfWork, message: Outgoing, now: datetime, watch: Watch) -> None:
    """What was sent, so that no replica sends it again."""
    request = message.request
    if message.kind is MessageKind.MILESTONE and message.milestone is not None:
        record_milestone(uow, request, message.milestone, now)
        watch.announced(request.id, message.milestone)
    elif message.kind in (MessageKind.COMPLETED, MessageKind.CHANGED):
        record_notified(uow, request)
        if message.kind is MessageKind.COMPLETED:
            watch.forget_announced(request.id)
