"""Faults a test or a demo can inject into the simulated fleet, consumed one at a time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


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
    ``metrics_forbidden``: metrics reads fail with 403 (no ``Microsoft.Insights/metrics/read``).
    ``throttle_metrics``: the next n metrics reads answer 429 with ``retry_after``.
    ``consumer_fails``: names of consumers whose restart Azure refuses with 403.
    """

    throttle_polls: int = 0
    retry_after: float = 30.0
    transient_errors: int = 0
    fail_next_with: tuple[str, str] | None = None
    slow_start: float = 0.0
    timeout_on_start: bool = False
    drop_start: bool = False
    deny: str | None = None
    metrics_forbidden: bool = False
    throttle_metrics: int = 0
    consumer_fails: set[str] = field(default_factory=set)

    def add(self, more: Faults) -> None:
        """Keep what is pending and add ``more``: counts add up, flags and names stay set."""
        self.throttle_polls += more.throttle_polls
        self.transient_errors += more.transient_errors
        self.throttle_metrics += more.throttle_metrics
        if more.throttle_polls or more.throttle_metrics:
            self.retry_after = more.retry_after
        if more.fail_next_with is not None:
            self.fail_next_with = more.fail_next_with
        self.slow_start = more.slow_start or self.slow_start
        self.timeout_on_start = more.timeout_on_start or self.timeout_on_start
        self.drop_start = more.drop_start or self.drop_start
        self.deny = more.deny or self.deny
        self.metrics_forbidden = more.metrics_forbidden or self.metrics_forbidden
        self.consumer_fails |= {name.lower() for name in more.consumer_fails}


class FaultInjection:
    """What a test or a demo injects into the fleet, kept by hub (``None``: any hub), and
    the fleet's lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # the fleet's one lock: faults are used under it
        self._faults: dict[str | None, Faults] = {}

    def inject(self, hub: str | None = None, *, throttle_polls: int = 0,
               retry_after: float = 30.0, transient_errors: int = 0,
               fail_next_with: tuple[str, str] | None = None, slow_start: float = 0.0,
               timeout_on_start: bool = False, drop_start: bool = False,
               deny: str | None = None, metrics_forbidden: bool = False,
               throttle_metrics: int = 0, consumer_fails: str | None = None) -> None:
        """Make things go wrong, for hub ``hub`` or any hub; see :class:`Faults`
        (``consumer_fails``: a consumer's name, its restarts refused until cleared).

        Faults add up: a second call keeps what the first injected and not yet used.
        """
        more = Faults(throttle_polls, retry_after, transient_errors, fail_next_with,
                      slow_start, timeout_on_start, drop_start, deny, metrics_forbidden,
                      throttle_metrics, {consumer_fails} if consumer_fails else set())
        with self._lock:
            self._faults.setdefault(hub.lower() if hub else None, Faults()).add(more)

    def clear_faults(self, hub: str | None = None) -> None:
        """Forget what was injected for ``hub`` (or fleet-wide) and not yet used."""
        with self._lock:
            self._faults.pop(hub.lower() if hub else None, None)

    def clear_all_faults(self) -> None:
        """Forget everything injected and not yet used, for every hub and fleet-wide."""
        with self._lock:
            self._faults.clear()

    def _fault(self, hub: str | None, kind: str) -> Faults | None:
        """The injected faults with ``kind`` pending: the hub's own first, then fleet-wide."""
        with self._lock:
            for key in ([hub.lower()] if hub else []) + [None]:
                faults = self._faults.get(key)
                if faults is not None and getattr(faults, kind):
                    return faults
        return None

    def _consumer_fails(self, name: str, hubs: list[str]) -> bool:
        """Whether a restart of consumer ``name`` (declared by ``hubs``) is to be refused."""
        with self._lock:
            return any(name.lower() in faults.consumer_fails
                       for key, faults in self._faults.items() if key is None or key in hubs)
