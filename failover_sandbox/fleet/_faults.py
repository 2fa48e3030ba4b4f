"""Faults a test or a demo can inject into the simulated fleet, consumed one at a time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """What goes wrong next, for one hub or (``hub=None``) for any hub.

    ``throttle_polls``: the next n polls answer 429 with ``retry_after``.
    ``transient_errors``: the next n calls of any kind fail with a 503.
    ``fail_next_with``: the next operation runs its course, then fails with (code, message).
    ``slow_start``: for this many clock seconds after a start, the hub still looks Active in
    its old region (as Azure sometimes shows before the operation is visible).
    ``timeout_on_start``: the next start reaches Azure but its answer is lost.
    ``drop_start``: the next start never reaches Azure (the connection is reset).
    ``deny``: starts fail with 403 for lack of this permission.
    """

    throttle_polls: int = 0
    retry_after: float = 30.0
    transient_errors: int = 0
    fail_next_with: tuple[str, str] | None = None
    slow_start: float = 0.0
    timeout_on_start: bool = False
    drop_start: bool = False
    deny: str | None = None
