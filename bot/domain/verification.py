"""Whether a hub runs again after a move, judged only from Azure Monitor's own minutes.

"Azure says Succeeded" is not what the on-call needs: devices must reconnect and telemetry
flow. The verdict is read from two per-minute metrics of the hub: ``connectedDeviceCount``
(aggregation **Average**: the metric's own default aggregation, so Azure always serves it;
Azure samples the count about once a minute, so a whole minute's Average is its level, and
where there are several samples it is the minute's level, never its best moment) and
``d2c.telemetry.ingress.success`` (**Total**: messages received in the minute).

The rules, each one there so that the bot never calls a hub verified from data that does not
show it:

- **Baseline**: the median of the whole, non-empty minutes of the hour before the POST, each
  metric on its own (one odd minute moves a median little). No devices then: nothing to
  compare with, "could not verify". No telemetry then: the devices alone decide, and the words
  say so.
- **Evidence**: only whole minutes that *start* at or after the completion (a bucket mixing
  before and after shows neither) and that ended at least ``metrics_delay`` ago (Azure's
  minutes fill in late; a younger one may still grow). An empty minute is no evidence; nor is
  one without telemetry when telemetry is compared.
- **Verified** once the two latest evidence minutes are consecutive and both hold the
  thresholds: one minute can be a flash (devices reconnect, then drop off again; buffered
  telemetry flushed at once), two in a row cost one minute and are a level. The figures are
  the later minute's.
- **Not recovered** once the window's minutes have all become evidence and the latest
  evidence minute is below. A window's last minute that holds is given the minute after the
  window to be confirmed.
- **Could not verify** (``unverified``) when there is no baseline, no evidence when the
  window closes, or the metrics cannot be read: said with the reason, never guessed.
- **Watching** otherwise, with when to look next: when the next minute becomes evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from statistics import median

MINUTE = timedelta(minutes=1)
BASELINE_SPAN = timedelta(hours=1)
DEVICES = "connectedDeviceCount"
TELEMETRY = "d2c.telemetry.ingress.success"
DEVICES_AGGREGATION = "Average"
TELEMETRY_AGGREGATION = "Total"


@dataclass(frozen=True)
class MinutePoint:
    """One metric's bucket: the minute it starts (UTC, on the minute) and its value, or
    ``None`` when Azure had nothing for it (an empty bucket)."""

    start: datetime
    value: float | None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start != floor_minute(self.start):
            raise ValueError(f"a minute starts on the minute, with a time zone: {self.start}")


@dataclass(frozen=True)
class MetricMinutes:
    """What Azure Monitor gave for one hub over a span: each metric's per-minute points."""

    devices: tuple[MinutePoint, ...] = ()
    telemetry: tuple[MinutePoint, ...] = ()

    def __post_init__(self) -> None:
        for points in (self.devices, self.telemetry):
            if len({p.start for p in points}) != len(points):
                raise ValueError("a minute given twice")

    def devices_by_minute(self) -> dict[datetime, float | None]:
        return {p.start: p.value for p in self.devices}

    def telemetry_by_minute(self) -> dict[datetime, float | None]:
        return {p.start: p.value for p in self.telemetry}

    def merged(self, later: MetricMinutes) -> MetricMinutes:
        """Both spans' minutes; ``later``'s where both have one (it was read later)."""
        return MetricMinutes(_merge(self.devices, later.devices),
                             _merge(self.telemetry, later.telemetry))


@dataclass(frozen=True)
class VerifyRules:
    """``BOT_VERIFY_WINDOW``, ``BOT_VERIFY_DEVICES_PCT``, ``BOT_VERIFY_TELEMETRY_PCT`` and
    ``BOT_VERIFY_METRICS_DELAY`` (a window of 0, "off", means no verification at all)."""

    window: timedelta = timedelta(minutes=15)
    devices_pct: float = 95.0
    telemetry_pct: float = 90.0
    metrics_delay: timedelta = timedelta(minutes=3)

    def __post_init__(self) -> None:
        if self.window < 2 * MINUTE:
            raise ValueError("the verification window must hold two whole minutes")
        if self.devices_pct <= 0 or self.telemetry_pct <= 0:
            raise ValueError("the thresholds are percentages above 0")
        if self.metrics_delay < timedelta(0):
            raise ValueError("the metrics delay cannot be negative")


@dataclass(frozen=True)
class Baseline:
    """The hour before the POST; ``problem`` says why there is none (Azure's words)."""

    devices: float | None
    telemetry: float | None
    problem: str | None = None

    @classmethod
    def unreadable(cls, azure_words: str) -> Baseline:
        return cls(None, None, problem=azure_words)


def take_baseline(metrics: MetricMinutes, *, posted_at: datetime, read_at: datetime,
                  rules: VerifyRules) -> Baseline:
    """The median of each metric over the whole, non-empty minutes of the hour before
    ``posted_at`` that had settled when read (``read_at``)."""
    def whole(start: datetime) -> bool:
        return (start >= posted_at - BASELINE_SPAN and start + MINUTE <= posted_at
                and settled(start, read_at, rules))

    def median_of(points: Iterable[MinutePoint]) -> float | None:
        values = [p.value for p in points if p.value is not None and whole(p.start)]
        return median(values) if values else None

    return Baseline(median_of(metrics.devices), median_of(metrics.telemetry))


class Outcome(StrEnum):
    WATCHING = "watching"
    VERIFIED = "verified"
    NOT_RECOVERED = "not_recovered"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Figures:
    """One evidence minute against the baseline."""

    minute: datetime  # the minute judged (its start)
    devices: float  # connectedDeviceCount in it
    baseline_devices: float
    telemetry: float | None  # messages in it; None when telemetry is not compared
    baseline_telemetry: float | None
    minutes_after: int  # from the completion to that minute's end, rounded up

    @property
    def devices_pct(self) -> Fraction:
        return Fraction(self.devices) * 100 / Fraction(self.baseline_devices)

    @property
    def telemetry_pct(self) -> Fraction | None:
        if self.telemetry is None or not self.baseline_telemetry:
            return None
        return Fraction(self.telemetry) * 100 / Fraction(self.baseline_telemetry)

    def holds(self, rules: VerifyRules) -> bool:
        telemetry = self.telemetry_pct
        return (self.devices_pct >= Fraction(rules.devices_pct)
                and (telemetry is None or telemetry >= Fraction(rules.telemetry_pct)))


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    figures: Figures | None = None  # the latest evidence minute, when there is one
    reason: str = ""  # unverified: why, in words (Azure's own where it gave some)
    look_again_at: datetime | None = None  # watching: when the next minute is evidence

    @property
    def final(self) -> bool:
        return self.outcome is not Outcome.WATCHING


def judge(baseline: Baseline, metrics: MetricMinutes, *, completed_at: datetime,
          now: datetime, rules: VerifyRules) -> Verdict:
    """The verdict after one look at ``metrics`` (minutes read since the completion)."""
    if baseline.problem is not None:
        return _unverified(f"the hour before could not be read: {baseline.problem}")
    if baseline.devices is None:
        return _unverified("Azure Monitor had no connected-device figures for the hour before")
    if baseline.devices <= 0:
        return _unverified("no devices were connected in the hour before, so there is "
                           "nothing to compare with")
    window = window_minutes(completed_at, rules)
    after_window = window[-1] + MINUTE
    evidence = _evidence(baseline, metrics, completed_at, now, rules, window)
    latest = evidence[-1] if evidence else None
    if (len(evidence) >= 2 and evidence[-1].minute - evidence[-2].minute == MINUTE
            and evidence[-1].holds(rules) and evidence[-2].holds(rules)):
        return Verdict(Outcome.VERIFIED, latest)
    if not settled(window[-1], now, rules) or (
            latest is not None and latest.minute == window[-1] and latest.holds(rules)
            and not settled(after_window, now, rules)):
        return Verdict(Outcome.WATCHING, latest, look_again_at=_next_look(now, window, rules))
    if latest is None:
        return _unverified(f"Azure Monitor had no figures for any whole minute of the "
                           f"{_minutes(rules.window)} min after the completion")
    if not latest.holds(rules):
        return Verdict(Outcome.NOT_RECOVERED, latest)
    return _unverified(f"the thresholds held in the minute from {latest.minute:%H:%M} UTC, "
                       "but Azure Monitor had no figures for the minute after it to confirm",
                       latest)


def judge_failed_read(azure_words: str, *, lasting: bool, completed_at: datetime,
                      now: datetime, rules: VerifyRules,
                      retry_after: timedelta | None = None) -> Verdict:
    """The verdict when a look could not read the metrics. ``lasting`` (no permission, no
    such metric): said at once. Otherwise (throttled, too slow) the next look may do better,
    while the window and its confirming minute can still become evidence."""
    window = window_minutes(completed_at, rules)
    gives_up_at = window[-1] + 2 * MINUTE + rules.metrics_delay  # the minute after settles
    look = max(_next_look(now, window, rules), now + (retry_after or timedelta(0)))
    if lasting or look > gives_up_at:
        return _unverified(f"Azure Monitor's metrics could not be read: {azure_words}")
    return Verdict(Outcome.WATCHING, reason=azure_words, look_again_at=look)


def window_minutes(completed_at: datetime, rules: VerifyRules) -> list[datetime]:
    """The starts of the whole minutes that may be evidence: from the first minute starting
    at or after the completion, while they start within the window."""
    first = ceil_minute(completed_at)
    count = max(1, -(-(completed_at + rules.window - first) // MINUTE))
    return [first + i * MINUTE for i in range(count)]


def settled(start: datetime, now: datetime, rules: VerifyRules) -> bool:
    """Whether the minute from ``start`` ended at least ``metrics_delay`` before ``now``."""
    return start + MINUTE + rules.metrics_delay <= now


def floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def ceil_minute(at: datetime) -> datetime:
    start = floor_minute(at)
    return start if start == at else start + MINUTE


def _evidence(baseline: Baseline, metrics: MetricMinutes, completed_at: datetime,
              now: datetime, rules: VerifyRules, window: list[datetime]) -> list[Figures]:
    compare_telemetry = bool(baseline.telemetry)
    devices = metrics.devices_by_minute()
    telemetry = metrics.telemetry_by_minute()
    found: list[Figures] = []
    for start in [*window, window[-1] + MINUTE]:
        if start not in window and not (found and found[-1].minute == window[-1]):
            break  # the minute after the window only confirms the window's last one
        count, messages = devices.get(start), telemetry.get(start)
        if (not settled(start, now, rules) or count is None
                or (compare_telemetry and messages is None)):
            continue
        minutes_after = -(-(start + MINUTE - completed_at) // MINUTE)
        found.append(Figures(start, count, _positive(baseline.devices),
                             messages if compare_telemetry else None,
                             baseline.telemetry if compare_telemetry else None,
                             minutes_after))
    return found


def _next_look(now: datetime, window: list[datetime], rules: VerifyRules) -> datetime:
    """When the next minute becomes evidence: the first not yet settled, settling."""
    pending = floor_minute(now - rules.metrics_delay - MINUTE) + MINUTE
    return max(pending, window[0]) + MINUTE + rules.metrics_delay


def _unverified(reason: str, figures: Figures | None = None) -> Verdict:
    return Verdict(Outcome.UNVERIFIED, figures, reason=reason)


def _positive(value: float | None) -> float:
    if value is None or value <= 0:
        raise ValueError("a baseline to compare with is above 0")
    return value


def _minutes(span: timedelta) -> int:
    return int(span // MINUTE)


def _merge(first: tuple[MinutePoint, ...],
           later: tuple[MinutePoint, ...]) -> tuple[MinutePoint, ...]:
    by_start: Mapping[datetime, MinutePoint] = {p.start: p for p in (*first, *later)}
    return tuple(sorted(by_start.values(), key=lambda p: p.start))
