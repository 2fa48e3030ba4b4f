"""The id that ties together every log line of one Slack request or poll."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("failover_bot_request_id", default=None)


_prefix, _sequence = secrets.token_hex(8), itertools.count()


def _fresh_prefix() -> None:
    """In a forked child, which must not repeat its parent's ids."""
    global _prefix
    _prefix = secrets.token_hex(8)


os.register_at_fork(after_in_child=_fresh_prefix)


def new_id() -> str:
    """32 hex digits unique to this process and call (a random prefix and a counter): for
    request and job ids, on every ack's path, where ``uuid4`` (a system call) showed up."""
    return f"{_prefix}{next(_sequence):016x}"


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def bind_request_id(request_id: str | None = None) -> Iterator[str]:
    """Set the request id (a fresh one when none is given) for the enclosed code.

    Context variables do not follow work into new threads: run thread-pool work through
    ``contextvars.copy_context().run`` or bind the id again inside the worker.
    """
    value = request_id or new_id()
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)
