"""The id that ties together every log line of one Slack request or poll."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("failover_bot_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def bind_request_id(request_id: str | None = None) -> Iterator[str]:
    """Set the request id (a fresh one when none is given) for the enclosed code.

    Context variables do not follow work into new threads: run thread-pool work through
    ``contextvars.copy_context().run`` or bind the id again inside the worker.
    """
    value = request_id or uuid.uuid4().hex
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)
