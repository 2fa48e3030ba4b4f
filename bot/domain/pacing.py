"""Pacing of failover starts within Azure Resource Manager's write limits.

A batch's starts are given slots at approval (so a restarted or another process keeps the
pace), and each process also paces its own batch POSTs with a :class:`StartPacer` (so late
rounds, retries and several batches at once stay within the limit too).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from types import TracebackType


class StartPacer:
    """One start per interval (``rate_per_minute`` a minute) in this process; thread-safe.

    Two steps, so that a hub that must wait costs no Azure read and the POSTs themselves,
    not the reads before them, are one interval apart:

    * :meth:`admit`, before the hub's re-read, lets a caller in only if its turn would come
      within ``horizon``. Otherwise it is told when to come back and keeps no place in a
      queue: whoever comes first then is let in, so a caller that comes back late never loses
      its turn for ever (no livelock).
    * :meth:`Admitted.turn`, right before the POST, gives the caller its time: one interval
      after the previous start, or now. The caller waits until then.

    A caller let in that does not start after all (the hub moved, Azure refused) leaves the
    ``with`` block without a turn, and its place is given back.
    """

    def __init__(self, rate_per_minute: int,
                 horizon: timedelta = timedelta(seconds=1)) -> None:
        if rate_per_minute <= 0:
            raise ValueError("the rate must be positive")
        self.interval = timedelta(minutes=1) / rate_per_minute
        self.horizon = horizon
        self._lock = threading.Lock()
        self._next: datetime | None = None  # the earliest the next start may go
        self._admitted = 0  # let in, no turn taken yet

    def admit(self, now: datetime) -> Admitted | datetime:
        """Let the caller in (``with`` the answer, then ``turn``) or say when to come back."""
        with self._lock:
            last_turn = self._free(now) + self.interval * self._admitted
            if last_turn - now > self.horizon:
                return last_turn - self.horizon
            self._admitted += 1
            return Admitted(self)

    def _free(self, now: datetime) -> datetime:
        return now if self._next is None or self._next < now else self._next

    def _turn(self, now: datetime) -> datetime:
        with self._lock:
            self._admitted -= 1
            at = self._free(now)
            self._next = at + self.interval
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
