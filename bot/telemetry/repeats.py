"""A failure that repeats is logged once, then counted: one line when it starts, a line with
the count every so often while it goes on, one line when it stops.

A loop that retries every quarter of a second would otherwise write a traceback each time
(119 in 30 s with the SQLite file deleted): the first line says what failed, the rest say
only that it still does.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain.clock import Clock

SUMMARY_EVERY = timedelta(seconds=60)


class RepeatedFailure:
    """The log of one thing that is tried again and again (a poller round, a renewal).

    ``failed(exc)`` after each failure, ``succeeded()`` after each success. A failure of a
    kind in ``expected`` (the database is down) is said without its traceback; any other
    kind with it, the first time. A failure of another kind than the one going on is new,
    and said at once.
    """

    def __init__(self, logger: logging.Logger, what: str, clock: Clock, *,
                 expected: tuple[type[BaseException], ...] = (),
                 every: timedelta = SUMMARY_EVERY) -> None:
        self._log = logger
        self._what = what
        self._clock = clock
        self._expected = expected
        self._every = every
        self._kind: type[BaseException] | None = None
        self._since: datetime | None = None
        self._said_at: datetime | None = None
        self._total = 0  # failures since it started
        self._unsaid = 0  # failures since the last line

    def failed(self, exc: BaseException) -> None:
        now = self._clock.now()
        self._total += 1
        if self._since is None:
            self._since = now
        if self._kind is not type(exc) or self._said_at is None:
            self._kind, self._said_at, self._unsaid = type(exc), now, 0
            traceback = not isinstance(exc, self._expected)
            self._log.error("%s failed: %s: %s; trying again (repeats are counted, not "
                            "logged)", self._what, type(exc).__name__, _first_line(exc),
                            exc_info=exc if traceback else None)
            return
        self._unsaid += 1
        if now - self._said_at >= self._every:
            self._log.error("%s still failing: %d more times in the last %.0f s (%s: %s)",
                            self._what, self._unsaid, (now - self._said_at).total_seconds(),
                            type(exc).__name__, _first_line(exc))
            self._said_at, self._unsaid = now, 0

    def succeeded(self) -> None:
        if self._since is None:
            return
        self._log.warning("%s works again, after %d failures over %.0f s", self._what,
                          self._total, (self._clock.now() - self._since).total_seconds())
        self._kind, self._since, self._said_at = None, None, None
        self._total = self._unsaid = 0


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""
