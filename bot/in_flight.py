"""What ``serve``'s two processes tell each other through memory they share: whether the
front is answering Slack (acks first, so the work process holds new work back while the front
is busy), and the work process's heartbeat (so the front sees it frozen or wedged)."""

from __future__ import annotations

import threading
import time
from multiprocessing.context import BaseContext


class InFlight:
    """Whether the front is answering Slack, in memory both processes share.

    Acks first: the work process holds new work back until the front has answered nothing
    for a short quiet spell, or for a bounded time (a burst must not starve the work, and a
    dialog must open within 3 s). The spell matters: requests still waiting in the front's
    socket buffers are not counted yet.
    """

    POLL_S = 0.002
    QUIET_S = 0.05

    def __init__(self, context: BaseContext) -> None:
        self._count = context.Value("i", 0)
        # Written under the count's lock; time.monotonic() is system-wide.
        self._last_answer = context.Value("d", 0.0, lock=False)

    def answering(self) -> InFlight:
        """``with in_flight.answering():`` around each answer. The object is its own context
        manager (no generator per answer: this is on every ack's path)."""
        return self

    def __enter__(self) -> None:
        with self._count.get_lock():  # the lock once (``.value`` would take it again)
            self._count.get_obj().value += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._count.get_lock():
            self._count.get_obj().value -= 1
            self._last_answer.value = time.monotonic()

    def answered_within(self, seconds: float) -> bool:
        """Answering now, or was ``seconds`` ago (lock-free, as in ``is_quiet``): between two
        acks of a burst the count is often 0, while the next request is still being read."""
        return (self._count.get_obj().value > 0
                or time.monotonic() - self._last_answer.value < seconds)

    def is_quiet(self) -> bool:
        # Lock-free reads: the work process, at a low priority, must never hold the lock that
        # the front's acks take (a preempted holder would stall them).
        return (self._count.get_obj().value == 0
                and time.monotonic() - self._last_answer.value >= self.QUIET_S)


def watch(in_flight: InFlight) -> threading.Event:
    """An event set while the front is quiet. One thread watches, so the work threads wait
    on the event rather than each polling the shared memory."""
    quiet = threading.Event()

    def keep_watching() -> None:
        while True:
            if in_flight.is_quiet():
                quiet.set()
            else:
                quiet.clear()
            time.sleep(InFlight.POLL_S)

    threading.Thread(target=keep_watching, name="front-watch", daemon=True).start()
    return quiet


class JobLoopHeartbeat:
    """When the work process's job loop last went round, in memory both processes share.

    The loop beats between waits for jobs, never a timer of its own: a process that is
    stopped (SIGSTOP), or whose loop is stuck, stops beating, while its pid lives on. One
    aligned double, written by one thread and read by another without a lock: a reader sees
    the old time or the new one. ``time.monotonic()`` is system-wide, so both agree on it.
    """

    def __init__(self, context: BaseContext) -> None:
        self._last = context.Value("d", 0.0, lock=False)

    def beat(self) -> None:
        self._last.value = time.monotonic()

    def silent_for(self) -> float:
        """Seconds since the last beat (``inf`` before the first)."""
        last = self._last.value
        return time.monotonic() - last if last else float("inf")
