"""The leases a poller keeps past a poll, while a milestone or completion waits for Slack.

Only the lease's holder may announce its request, so the lease is kept (and renewed) until
the message has gone, then handed back with the next poll's time. All on the round's thread.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.poller.heartbeat import LeaseHeartbeat
from bot.poller.ratelimit import RateLimitedNotifier
from bot.poller.rounds import Held
from bot.store.base import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class KeptLeases:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, owner_id: str,
                 lease_ttl: timedelta, heartbeat: LeaseHeartbeat,
                 outbox: RateLimitedNotifier) -> None:
        self._uow, self._clock, self._owner = uow_factory, clock, owner_id
        self._ttl, self._heartbeat, self._outbox = lease_ttl, heartbeat, outbox
        self._held: dict[str, Held] = {}

    def keep_or_release(self, request_id: str, next_poll_at: datetime) -> None:
        """Keep the lease while a milestone or completion waits to be sent; else release it."""
        keep = bool(self._outbox.announcements_for(request_id))
        lease_until = self._clock.now() + self._ttl
        with self._uow() as uow:
            if keep:
                keep = uow.leases.renew_lease(request_id, self._owner, lease_until)
                if keep:
                    uow.leases.schedule_poll(request_id, next_poll_at)
            else:
                uow.leases.release_lease(request_id, self._owner, next_poll_at)
            uow.commit()
        if keep:
            self._held[request_id] = Held(next_poll_at, lease_until)
        else:
            self.lost(request_id)

    def lost(self, request_id: str) -> None:
        """Not ours (any more): neither kept nor renewed."""
        self._held.pop(request_id, None)
        self._heartbeat.drop(request_id, self._owner)

    def renew(self) -> None:
        """Renew the leases we keep once half their time has passed (not every round)."""
        now = self._clock.now()
        due = [rid for rid, held in self._held.items()
               if held.lease_until - now <= self._ttl / 2]
        if not due:
            return
        until = now + self._ttl
        with self._uow() as uow:
            lost = [rid for rid in due if not uow.leases.renew_lease(rid, self._owner, until)]
            uow.commit()
        for request_id in due:
            held = self._held.pop(request_id)
            if request_id in lost:
                log.warning("lease on %s was taken over; leaving it to its new owner",
                            request_id)
                self._outbox.forget(request_id)
            else:
                self._held[request_id] = Held(held.next_poll_at, until)
        for request_id in lost:
            self._heartbeat.drop(request_id, self._owner)

    def release_sent(self, uow: UnitOfWork, request_ids: list[str]) -> None:
        """Hand back the leases whose messages have all gone (in the caller's unit of work)."""
        for request_id in request_ids:
            if request_id in self._held and not self._outbox.announcements_for(request_id):
                kept = self._held.pop(request_id)
                uow.leases.release_lease(request_id, self._owner, kept.next_poll_at)
                self._heartbeat.drop(request_id, self._owner)

    def release_all(self, uow: UnitOfWork) -> int:
        """Shutting down: hand every kept lease back, due when we would have polled it."""
        held, self._held = self._held, {}
        for request_id, kept in held.items():
            uow.leases.release_lease(request_id, self._owner, kept.next_poll_at)
        return len(held)
