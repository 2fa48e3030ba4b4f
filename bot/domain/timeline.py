"""Azure's time as the bot sees it: the bot's own clock, or, in the sandbox (``--speed``),
a faster one. Azure Monitor's minutes are Azure's minutes: verification reads and judges them
on this timeline, and schedules its looks back on the bot's clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Timeline:
    """``scale`` times faster than the bot's clock from ``origin`` on (1: the same clock)."""

    origin: datetime = datetime(2020, 1, 1, tzinfo=UTC)
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError("a timeline runs forwards")

    def azure(self, real: datetime) -> datetime:
        """The Azure time at the bot's ``real`` time."""
        if self.scale == 1:
            return real
        return self.origin + (real - self.origin) * self.scale

    def real(self, azure: datetime) -> datetime:
        """The bot's time at Azure's ``azure`` time."""
        if self.scale == 1:
            return azure
        return self.origin + (azure - self.origin) / self.scale


SAME_CLOCK = Timeline()
