"""Pacing of failover starts within Azure Resource Manager's write limits.

A batch's starts are given slots at approval (so a restarted or another process keeps the
pace), and each POST takes a turn right before it goes (so late rounds, retries, several
batches and several replicas at once stay within the limit too). The turns are shared by
the whole deployment (:func:`next_turn`, kept by the store: one row, claimed under a lock);
a :class:`StartPacer` decides, in each process, who may go for a turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

# No queue of waiting starts puts the previous turn this far ahead of now (replicas let in
# only what goes within a second each): such a turn was taken by a clock that jumped, or a
# replica's clock far ahead, and waiting for it could hold every start back for hours.
TURN_AHEAD_LIMIT = timedelta(minutes=10)

# (interval, now) -> when the caller may start: its turn, taken for the whole deployment.
ClaimTurn = Callable[[timedelta, datetime], datetime]


def next_turn(previous: datetime | None, interval: timedelta, now: datetime) -> datetime:
    """The next start's turn: now, or one interval after the previous turn, if later (a
    previous turn not to be believed, see ``TURN_AHEAD_LIMIT``, counts as none)."""
    if previous is None or previous - now > TURN_AHEAD_LIMIT:
        return now
    return max(now, previous + interval)


class StartPacer:
    """One start per interval (``rate_per_minute`` a minute); thread-safe.

    Two steps, so that a hub that must wait costs no Azure read and the POSTs themselves,
    not the reads before them, are one interval apart:

    * :meth:`admit`, before the hub's re-read, lets a caller in only if its turn would come
      within ``horizon``. Otherwise it is told when to come back and keeps no place in a
      queue: whoever comes first then is let in, so a caller that comes back late never loses
      its turn for ever (no livelock).
    * :meth:`Admitted.turn`, right before the POST, takes the caller's turn with ``claim``
      (the deployment's, shared by every replica; without one, this process's own): one
      interval after the previous start, or now. The caller waits until then. A turn is
      never refused, so a caller let in always goes.

    Admission counts the turns this process knows of (its own, and the latest one the
    deployment took, when the caller passes it): another replica's callers let in but not
    yet at their turn are unknown here, so with replicas a caller may wait a little beyond
    ``horizon`` (its lease is kept meanwhile).

    A caller let in that does not start after all (the hub moved, Azure refused) leaves the
    ``with`` block without a turn, and its place is given back.
    """

    def __init__(self, rate_per_minute: int, horizon: timedelta = timedelta(seconds=1),
                 claim: ClaimTurn | None = None) -> None:
        if rate_per_minute <= 0:
            raise ValueError("the rate must be positive")
        self.interval = timedelta(minutes=1) / rate_per_minute
        self.horizon = horizon
        self.claim = claim or self.claim_here
        self._lock = threading.Lock()
        self._next: datetime | None = None  # the earliest the next start may go, as known here
        self._admitted = 0  # let in, no turn taken yet

    def admit(self, now: datetime, taken: datetime | None = None) -> Admitted | datetime:
        """Let the caller in (``with`` the answer, then ``turn``) or say when to come back.

        ``taken``: the latest turn the deployment took (the store's), if the caller read it.
        """
        with self._lock:
            if taken is not None:
                self._learn(next_turn(taken, self.interval, now))
            last_turn = self._free(now) + self.interval * self._admitted
            if last_turn - now > self.horizon:
                return last_turn - self.horizon
            self._admitted += 1
            return Admitted(self)

    def _free(self, now: datetime) -> datetime:
        return now if self._next is None or self._next < now else self._next

    def _learn(self, free_at: datetime) -> None:
        if self._next is None or free_at > self._next:
            self._next = free_at

    def claim_here(self, interval: timedelta, now: datetime) -> datetime:
        """A turn from this process's own pace (no shared one, or it cannot be reached):
        after every turn it took or learnt of."""
        with self._lock:
            at = self._free(now)
            self._next = at + interval
            return at

    def _turn(self, now: datetime) -> datetime:
        try:
            at = self.claim(self.interval, now)  # outside the lock: the store's is a round trip
        except BaseException:
            self._withdraw()
            raise
        with self._lock:
            self._admitted -= 1
            self._learn(at + self.interval)
        return at

    def _withdraw(self) -> None:
        with self._lock:
            self._admitted -= 1


class Admitted:
    """A caller let in by :meth:`StartPacer.admit`: take a ``turn``, or leave without one."""

    def __init__(self, pacer: StartPacer) -> None:
        self._pacer: StartPacer | None = pacer

    def turn(self, now: datetime) -> datetime:
        """When this start may go (now or later); once."""
        pacer, self._pacer = self._pacer, None
        if pacer is None:
            raise RuntimeError("this start already took its turn")
        return pacer._turn(now)

    def __enter__(self) -> Admitted:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        pacer, self._pacer = self._pacer, None
        if pacer is not None:
            pacer._withdraw()


def start_slots(count: int, earliest: datetime, rate_per_minute: int) -> list[datetime]:
    """When each of ``count`` starts may go, one interval apart from ``earliest``."""
    step = timedelta(minutes=1) / rate_per_minute
    return [earliest + step * i for i in range(count)]
