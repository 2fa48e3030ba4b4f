"""What ``serve``'s two processes tell each other through memory they share: whether the
front is answering Slack (acks first, so the work process holds new work back while the front
is busy), the work process's heartbeat (so the front sees it frozen or wedged) and whether it
is ready for jobs.

The memory is one page behind a file descriptor the work process inherits (``SharedPage``),
not ``multiprocessing`` values: those need its resource tracker, a third Python process of
about 12 MB for the bot's whole life. Each field is one aligned 8-byte word with one writer
process, read by the other without a lock: a reader sees the old value or the new one.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import tempfile
import threading
import time

_SIZE = mmap.PAGESIZE
# Byte offsets of the fields; each is written by one process only.
_ANSWERING, _LAST_ANSWER = 0, 8  # the front's
_BEAT, _READY = 16, 24  # the work process's


class SharedPage:
    """One page of memory shared with the work process through an inherited descriptor."""

    def __init__(self, fd: int | None = None) -> None:
        """A new zeroed page, or (in the work process) the one behind the inherited ``fd``."""
        if fd is None:
            fd = _anonymous_file()
            os.ftruncate(fd, _SIZE)
        self.fd = fd
        self._map = mmap.mmap(fd, _SIZE)

    def int64(self, offset: int) -> ctypes.c_int64:
        return ctypes.c_int64.from_buffer(self._map, offset)

    def double(self, offset: int) -> ctypes.c_double:
        return ctypes.c_double.from_buffer(self._map, offset)


def _anonymous_file() -> int:
    """A file only in memory that nothing can open by name (Linux), or an unlinked one."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("failover-bot-shared", 0)
    fd, path = tempfile.mkstemp(prefix="failover-bot-shared-")
    os.unlink(path)
    return fd


class InFlight:
    """Whether the front is answering Slack, in memory both processes share.

    Acks first: the work process holds new work back until the front has answered nothing
    for a short quiet spell, or for a bounded time (a burst must not starve the work, and a
    dialog must open within 3 s). The spell matters: requests still waiting in the front's
    socket buffers are not counted yet.
    """

    POLL_S = 0.002
    QUIET_S = 0.05

    def __init__(self, page: SharedPage) -> None:
        self._count = page.int64(_ANSWERING)
        self._last_answer = page.double(_LAST_ANSWER)
        # Only the front's threads write: a lock of its own, never one the work process
        # (at a low priority, possibly preempted while holding it) could take.
        self._lock = threading.Lock()

    def answering(self) -> InFlight:
        """``with in_flight.answering():`` around each answer. The object is its own context
        manager (no generator per answer: this is on every ack's path)."""
        return self

    def __enter__(self) -> None:
        with self._lock:
            self._count.value += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._count.value -= 1
            self._last_answer.value = time.monotonic()  # system-wide: both processes agree

    def answered_within(self, seconds: float) -> bool:
        """Answering now, or was ``seconds`` ago: between two acks of a burst the count is
        often 0, while the next request is still being read."""
        return self._count.value > 0 or time.monotonic() - self._last_answer.value < seconds

    def is_quiet(self) -> bool:
        return self._count.value == 0 and time.monotonic() - self._last_answer.value >= self.QUIET_S


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
    """When the work process's job loop last went round, and whether it is ready for jobs.

    The loop beats between waits for jobs, never a timer of its own: a process that is
    stopped (SIGSTOP), or whose loop is stuck, stops beating, while its pid lives on.
    ``time.monotonic()`` is system-wide, so both processes agree on it.
    """

    def __init__(self, page: SharedPage) -> None:
        self._last = page.double(_BEAT)
        self._ready = page.int64(_READY)

    def beat(self) -> None:
        self._last.value = time.monotonic()

    def silent_for(self) -> float:
        """Seconds since the last beat (``inf`` before the first)."""
        last = self._last.value
        return time.monotonic() - last if last else float("inf")

    def set_ready(self) -> None:
        self._ready.value = 1

    def is_ready(self) -> bool:
        return bool(self._ready.value)
