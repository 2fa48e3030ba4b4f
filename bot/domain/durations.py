"""Parse and print durations the way operators write them: ``90``, ``30m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> timedelta:
    """Return the duration written in ``text``; raise ValueError with a readable message."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("empty duration (use seconds like 90, or 30m, 1h, 1h30m)")
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return _seconds(float(raw), text)
    pos = 0
    seconds = 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise ValueError(f"invalid duration {text!r} (use seconds like 90, or 30m, 1h, 1h30m)")
    return _seconds(seconds, text)


def _seconds(seconds: float, text: str) -> timedelta:
    # timedelta raises OverflowError, which would escape the callers' ValueError handling.
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def humanize(delta: timedelta) -> str:
    """``timedelta(seconds=3725)`` → ``"1h 2m"``; under a minute → ``"45s"``."""
    total = max(0, int(delta.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {seconds}s" if seconds and minutes < 10 else f"{minutes}m"
    return f"{seconds}s"


def minute_up(at: datetime) -> datetime:
    """``at`` rounded up to a whole minute: a time something is *allowed from*, shown to the
    minute, must not be a minute that has passed while the bot still refuses."""
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)
