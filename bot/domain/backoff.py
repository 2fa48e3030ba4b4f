"""Exponential back-off with jitter: how long to wait after the n-th failure in a row."""

from __future__ import annotations

from datetime import timedelta

# Azure's Retry-After is a hint in seconds; never try again faster than this, even if told to.
MIN_DELAY = timedelta(seconds=1)


def backoff_delay(failures: int, base: timedelta, cap: timedelta, retry_after: float | None,
                  fraction: float) -> timedelta:
    """The wait after the ``failures``-th failure in a row (429, 5xx, network, token).

    Equal jitter (half fixed, half ``fraction`` of the rest, ``fraction`` in [0, 1)) keeps the
    delay growing with each failure while spreading out the replicas and operations that
    failed together. ``cap`` bounds our own back-off; Azure's ``Retry-After`` is a floor
    even above it (Azure knows when it will take requests again).
    """
    exponent = min(max(failures, 1) - 1, 16)
    ceiling = min(cap, base * (2 ** exponent))
    delay = min(max(ceiling / 2 + ceiling / 2 * fraction, MIN_DELAY), cap)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay
