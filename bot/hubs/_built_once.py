"""SDK clients made once per key (a subscription, a kind of consumer), by the first caller,
under a lock: the IoT Hub, Azure Monitor and consumer clients all keep theirs this way."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BuiltOnce(Generic[K, V]):
    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, build: Callable[[], V]) -> V:
        """The value kept for ``key``, or ``build()``'s, kept from now on."""
        with self._lock:
            value = self._values.get(key)
            if value is None:
                value = self._values[key] = build()
            return value
