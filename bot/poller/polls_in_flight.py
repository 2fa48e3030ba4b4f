"""The polls handed to the pool and not settled yet, so a round need not wait for the slowest.

A round submits what it claimed and settles whatever has finished; the rest is settled by a
later round. Each claimed request keeps its lease (renewed by the heartbeat) while it waits
here, so no other replica takes it meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from bot.domain.request import FailoverRequest
from bot.poller.watch import Polled

log = logging.getLogger(__name__)


class PollsInFlight:
    def __init__(self, pool: ThreadPoolExecutor, poll: Callable[[FailoverRequest], Polled]
                 ) -> None:
        self._pool, self._poll = pool, poll
        self._futures: dict[Future[Polled], FailoverRequest] = {}  # in claim order

    def __len__(self) -> int:
        return len(self._futures)

    def ids(self) -> set[str]:
        return {request.id for request in self._futures.values()}

    def submit(self, requests: list[FailoverRequest]) -> None:
        for request in requests:
            self._futures[self._pool.submit(self._poll, request)] = request

    def finished(self, *, wait_all: bool = False) -> list[Polled]:
        """The polls done so far (every one, with ``wait_all``), in claim order; forgotten."""
        if wait_all and self._futures:
            wait(self._futures)
        done = [(future, self._futures.pop(future)) for future in list(self._futures)
                if future.done()]
        return [_outcome(future, request) for future, request in done
                if not future.cancelled()]

    def wait_any(self, timeout: float) -> None:
        """Until one poll finishes, or ``timeout`` seconds."""
        if self._futures:
            wait(self._futures, timeout, return_when=FIRST_COMPLETED)

    def cancel_waiting(self) -> list[FailoverRequest]:
        """Cancel the polls not begun yet (shutting down); the requests they were for."""
        return [request for future, request in list(self._futures.items())
                if future.cancel() and self._futures.pop(future, None) is not None]


def _outcome(future: Future[Polled], request: FailoverRequest) -> Polled:
    # A poll that raised (the database went away under it) is settled as failed, so that its
    # lease is handed back or kept on purpose, never kept alive by the heartbeat for ever.
    error = future.exception()
    if error is None:
        return future.result()
    log.error("polling %s failed: %s", request.id, error)
    return Polled(request, failed=True)
