"""Reading drills (issue #23): their history with the measured recovery times, for audits
and DR reviews (``failover-bot drills``), and what the Home tab shows of them — the next
scheduled drills, soonest first, and each hub's last result.

Only the store is read (the figures are the drill's report, kept when it ended), so the
command line reads drills without Azure or Slack: it builds this use case over the database
alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.domain.drill import Drill
from bot.domain.drill_schedule import DrillSchedule
from bot.store.base import UnitOfWork

LEGS = ("failover", "failback")


class DrillStore(Protocol):
    """What reading drills needs: the database, nothing else (``ServiceDeps`` is one)."""

    @property
    def uow(self) -> Callable[[], UnitOfWork]: ...


@dataclass(frozen=True)
class LegResult:
    """One leg as the drill's report measured it; None where it was not measured (the leg
    did not run, did not succeed, was not verified, or the drill has not ended)."""

    ran: bool = False
    to_accepted_s: float | None = None  # approval to Azure's acceptance
    to_active_s: float | None = None  # acceptance to active in the other region
    to_verified_s: float | None = None  # completion to the devices verified
    verdict: str | None = None  # verified, not_recovered, unverified

    @classmethod
    def of(cls, figures: Mapping[str, Any] | None) -> LegResult:
        figures = figures or {}

        def seconds(key: str) -> float | None:
            value = figures.get(key)
            return float(value) if isinstance(value, int | float) else None

        verdict = figures.get("verdict")
        return cls(ran=bool(figures.get("ran")), to_accepted_s=seconds("to_accepted_s"),
                   to_active_s=seconds("to_active_s"), to_verified_s=seconds("to_verified_s"),
                   verdict=verdict if isinstance(verdict, str) else None)


@dataclass(frozen=True)
class DrillResult:
    """A drill and what its report says: each leg's figures, the quota used, what failed."""

    drill: Drill
    failover: LegResult = field(default_factory=LegResult)
    failback: LegResult = field(default_factory=LegResult)
    quota_used: Mapping[str, int] = field(default_factory=dict)  # by leg: 0 or 1
    failure: str | None = None  # in the report's words (Azure's, for a failed leg)

    @classmethod
    def of(cls, drill: Drill) -> DrillResult:
        report = drill.report or {}
        legs = report.get("legs") or {}
        used = report.get("quota_used") or {}
        failure = report.get("failure")
        return cls(drill, LegResult.of(legs.get("failover")), LegResult.of(legs.get("failback")),
                   {leg: int(used.get(leg) or 0) for leg in LEGS} if report else {},
                   failure if isinstance(failure, str) else None)


@dataclass(frozen=True)
class DrillOutlook:
    """The Home tab's drills: schedules to come (soonest first), each hub's last drill
    (newest first). Whole lists: the view says how many it leaves out."""

    next: list[DrillSchedule]
    last: list[DrillResult]


class DrillReading:
    def __init__(self, deps: DrillStore) -> None:
        self.deps = deps

    def history(self, hub: str | None = None, since: datetime | None = None,
                limit: int = 100) -> list[DrillResult]:
        """Drills newest first, each with its report's figures."""
        with self.deps.uow() as uow:
            drills = uow.drills.history(hub, limit=limit, since=since)
        return [DrillResult.of(drill) for drill in drills]

    def outlook(self) -> DrillOutlook:
        with self.deps.uow() as uow:
            schedules = uow.drills.schedules()
            latest = uow.drills.latest_per_hub()
        # A one-off schedule whose drill was asked for stays on record with no next time.
        coming = sorted((s for s in schedules if s.next_at is not None),
                        key=lambda s: (s.next_at or s.created_at, s.hub))
        return DrillOutlook(coming, [DrillResult.of(drill) for drill in latest])
