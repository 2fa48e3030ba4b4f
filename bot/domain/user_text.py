"""What people type, made fit to store and to show: every entry of user text (dialog inputs,
command text, button values) goes through :func:`clean`, once, at the edge.

Removed: lone surrogates (Slack's JSON can carry ``\\ud800``; no UTF-8 encoder, so neither
PostgreSQL, SQLite nor a log line, takes one), control characters but tab and newline
(PostgreSQL refuses NUL; the others hide text), bidi overrides and isolates (text that reads
differently from what it is: "Trojan Source") and zero-width characters (a name that looks
like another). Then NFC, so "é" typed two ways is one string. What was removed is returned,
so it can be audited. Too long is refused, never cut silently (:func:`too_long`).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


class Removed(StrEnum):
    SURROGATE = "lone surrogate"
    CONTROL = "control character"
    BIDI = "bidi control"
    ZERO_WIDTH = "zero-width character"


def _kind(point: int) -> Removed | None:
    if 0xD800 <= point <= 0xDFFF:
        return Removed.SURROGATE
    if (point < 0x20 and point not in (0x09, 0x0A)) or 0x7F <= point <= 0x9F:
        return Removed.CONTROL
    if 0x202A <= point <= 0x202E or 0x2066 <= point <= 0x2069:
        return Removed.BIDI
    if 0x200B <= point <= 0x200D or point in (0x2060, 0xFEFF):
        return Removed.ZERO_WIDTH
    return None


_SMALL = [p for p in range(0x3000) if _kind(p)] + [0xFEFF]
_DROP: dict[int, None] = dict.fromkeys([*_SMALL, *range(0xD800, 0xE000)])
_SHOWN_POINTS = 5  # code points named in the audit, at most

# The dialogs' limits (their inputs' max_length): a crafted submission is held to them too.
REASON_CHARS = 1000
LIST_CHARS = 3000  # a list of hub names typed in one input ("Leave out")


@dataclass(frozen=True)
class CleanText:
    """Clean text and what cleaning took out of it (empty when nothing)."""

    text: str
    removed: tuple[tuple[Removed, int], ...] = ()  # per kind, how many
    points: tuple[str, ...] = ()  # the distinct code points removed (``U+202E``), the first few
    normalised: bool = False  # NFC changed it

    @property
    def changed(self) -> bool:
        return bool(self.removed) or self.normalised

    def changes(self) -> str:
        """In words, for the audit log: "removed 1 bidi control (U+202E); NFC-normalised"."""
        parts = []
        if self.removed:
            counted = ", ".join(f"{n} {kind.value}{'s' if n != 1 else ''}"
                                for kind, n in self.removed)
            parts.append(f"removed {counted} ({' '.join(self.points)})")
        if self.normalised:
            parts.append("NFC-normalised")
        return "; ".join(parts)


def clean(raw: str) -> CleanText:
    """``raw`` without the characters above, NFC-normalised (idempotent)."""
    if raw.isascii() and raw.isprintable():
        return CleanText(raw)  # the common case: nothing to remove, nothing to compose
    kept = raw.translate(_DROP)
    removed: tuple[tuple[Removed, int], ...] = ()
    points: tuple[str, ...] = ()
    if len(kept) != len(raw):
        dropped = [c for c in raw if ord(c) in _DROP]
        removed = tuple(sorted(Counter(_kind(ord(c)) for c in dropped).items()))  # type: ignore[arg-type]
        points = tuple(dict.fromkeys(f"U+{ord(c):04X}" for c in dropped))[:_SHOWN_POINTS]
    # Removed first, composed second: "e\u200b\u0301" must end as one "é" (idempotence).
    text = unicodedata.normalize("NFC", kept)
    return CleanText(text, removed, points, text != kept)


def too_long(text: str, limit: int, what: str) -> str | None:
    """A refusal's words when ``text`` is over ``limit`` characters (never cut silently)."""
    if len(text) <= limit:
        return None
    return f"{what} is {len(text):,} characters long; at most {limit:,}, please."
