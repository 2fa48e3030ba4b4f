"""Waiting for an outcome with a deadline, never with a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T | None], *, timeout: float,
               step: float = 0.05, gave_up: Callable[[], str | None] | None = None) -> T:
    """Poll ``check`` until it is truthy and return its value; fail at the deadline, or as soon
    as ``gave_up()`` says why waiting is pointless (a process that exited, say)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if gave_up is not None and (reason := gave_up()):
            raise AssertionError(f"{reason} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)  # the poll step of the wait, not a wait for an outcome
