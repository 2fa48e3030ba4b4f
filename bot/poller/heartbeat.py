"""Leases kept alive by a heartbeat of their own, whatever Azure or a poll round is doing.

A lease says "this process is working on the request": a poll in progress, or a failover POST
still waiting for Azure's answer. Leases are short (``BOT_LEASE_TTL``, 15 s by default), so that
a dead process's requests are taken over quickly; this thread renews every lease the process
holds a few times per TTL, so that a slow Azure call (up to its 30 s read timeout) never lets
one lapse while its owner is alive.

Owner ids are ``host:pid:token``, ``host`` naming the machine and its pid namespace, so a
lease whose owner ran on this host and whose process is gone is provably dead: it is reclaimed
at once (:meth:`LeaseHeartbeat.reap`) instead of after its TTL. Any other owner (another host,
a reused pid, a name that is not an owner id) is left to its TTL.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path

from bot.domain.clock import Clock
from bot.store.base import StoreUnavailable, UnitOfWorkFactory
from bot.telemetry.repeats import RepeatedFailure

log = logging.getLogger(__name__)

# Renewals per TTL: two may fail (a database blip) before the lease lapses.
BEATS_PER_TTL = 3


_TOKEN = secrets.token_hex(3)  # this process start (a container's pid 1 is reused)


def _host_key() -> str:
    """The hostname and the pid namespace: where a pid names one process."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").rstrip("]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()[:60]}~{namespace}"


def process_owner_id() -> str:
    """``host:pid:token``: unique per process start, and says where the process runs."""
    return f"{_host_key()}:{os.getpid()}:{_TOKEN}"


def owner_is_dead(owner: str) -> bool:
    """True only when provably so: the owner ran here, and its process is gone."""
    host, _, rest = owner.partition("/")[0].partition(":")
    pid_text, _, token = rest.partition(":")
    if host != _host_key() or not pid_text.isdigit() or not token:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token != _TOKEN  # our pid, an earlier start's token: that start is gone
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return bool(fields) and fields[0] in ("Z", "X")  # a zombie holds nothing any more


class LeaseHeartbeat:
    """Renews the leases registered with :meth:`keep` every ``ttl / 3`` until :meth:`drop`."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, ttl: timedelta) -> None:
        self._uow = uow_factory
        self._clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._kept: set[tuple[str, str]] = set()  # (request id, owner)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = RepeatedFailure(log, "renewing leases", clock,
                                         expected=(StoreUnavailable,))

    def keep(self, request_id: str, owner: str) -> None:
        with self._lock:
            self._kept.add((request_id, owner))

    def drop(self, request_id: str, owner: str) -> None:
        with self._lock:
            self._kept.discard((request_id, owner))

    def kept(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self._kept)

    def beat(self) -> int:
        """Renew every kept lease once; forget those another owner took. Returns renewals."""
        kept = self.kept()
        if not kept:
            return 0
        until = self._clock.now() + self.ttl
        try:
            with self._uow() as uow:
                lost = {pair for pair in kept if not uow.leases.renew_lease(*pair, until)}
                uow.commit()
        except Exception as exc:  # the database is down: try again next beat, the TTL has slack
            self._failures.failed(exc)
            return 0
        self._failures.succeeded()
        for pair in lost:
            self.drop(*pair)
        return len(kept) - len(lost)

    def reap(self, now: datetime) -> int:
        """Hand back the leases of owners that are provably dead, so that their requests
        are polled now rather than a TTL after the crash. Returns how many."""
        with self._uow() as uow:
            dead = [(request_id, owner) for request_id, owner in uow.leases.live_leases(now)
                    if owner_is_dead(owner)]
            for request_id, owner in dead:
                uow.leases.release_lease(request_id, owner, now)
            uow.commit()
        for request_id, owner in dead:
            log.warning("lease of %s held by %s, a process that is gone: reclaimed",
                        request_id, owner)
        return len(dead)

    @property
    def interval(self) -> timedelta:
        return self.ttl / BEATS_PER_TTL

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval.total_seconds()):
            self.beat()
