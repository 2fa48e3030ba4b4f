"""Hub names a typo most likely meant (IoT Hub names are case-insensitive)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest_names(typed: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``known`` that look like ``typed``, best first."""
    by_lower = {name.lower(): name for name in known}
    matches = difflib.get_close_matches(typed.lower(), list(by_lower), n=n, cutoff=0.75)
    return [by_lower[m] for m in matches]
