"""Acks first: work that follows an ack waits, for a bounded time, while others are pending.

In one Python process the acks and the work after them share the GIL. Under a burst of
commands (an outage brings many at once) the work would slow every later ack towards Slack's
3-second limit; holding new work back while requests are being answered keeps acks as fast
as a bare Bolt app's, and the bound keeps the work from waiting long.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any


class AckGate:
    """Counts Slack requests being answered; ``wait_quiet`` returns when there are none."""

    def __init__(self, max_wait: float = 2.0) -> None:
        self.max_wait = max_wait
        self._quiet = threading.Condition()
        self._in_flight = 0

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._quiet:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._quiet:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._quiet.notify_all()

    def wait_quiet(self, max_wait: float | None = None) -> None:
        with self._quiet:
            self._quiet.wait_for(lambda: self._in_flight == 0,
                                 timeout=self.max_wait if max_wait is None else max_wait)


class AfterAckExecutor(Executor):
    """Runs submitted work on ``inner`` once the gate is quiet (or ``max_wait`` has passed)."""

    def __init__(self, inner: Executor, gate: AckGate, max_wait: float | None = None) -> None:
        self._inner = inner
        self._gate = gate
        self._max_wait = max_wait

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def deferred() -> Any:
            self._gate.wait_quiet(self._max_wait)
            return fn(*args, **kwargs)

        return self._inner.submit(deferred)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)
