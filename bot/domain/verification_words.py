"""A verification verdict in words and a small picture, for the request's thread.

Plain text (the Slack layer escapes it). Percentages are cut, never rounded up: a hub at
94.96 % of its devices reads "94.9 %", not a "95 %" that the threshold refused. The picture
is a sparkline of connected devices, one character a minute, scaled from zero (a drop to
40 % looks like one), across the move: before the POST, during it, and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction

from bot.domain.model import OperationKind
from bot.domain.verification import (
    MINUTE,
    Figures,
    MetricMinutes,
    Outcome,
    Verdict,
    VerifyRules,
    settled,
)

SPARKS = "▁▂▃▄▅▆▇█"
EMPTY_MINUTE = "·"


def verdict_words(verdict: Verdict, kind: OperationKind, rules: VerifyRules) -> str:
    """One line: "Verified: …", "Not recovered after 15 min: …", "Could not verify: …" or,
    while watching, what the latest minute shows and when the next look is."""
    figures = verdict.figures
    if verdict.outcome is Outcome.VERIFIED and figures is not None:
        return (f"Verified: {_devices_of(figures)} connected again "
                f"({_pct(figures.devices_pct, 1)} %) {figures.minutes_after} min after the "
                f"{kind.value}; {_telemetry(figures)}.")
    if verdict.outcome is Outcome.NOT_RECOVERED and figures is not None:
        wanted = f"wanted: {rules.devices_pct:g} % of the devices"
        if figures.telemetry_pct is not None:
            wanted += f" and {rules.telemetry_pct:g} % of the telemetry"
        return (f"Not recovered after {int(rules.window // MINUTE)} min: "
                f"{_devices_of(figures)} ({_pct(figures.devices_pct, 1)} %) connected; "
                f"{_telemetry(figures)} ({wanted}).")
    if verdict.outcome is Outcome.UNVERIFIED:
        return f"Could not verify: {_sentence(verdict.reason)}"
    next_look = (f"next look at {verdict.look_again_at:%H:%M} UTC"
                 if verdict.look_again_at else "next look soon")
    if verdict.reason:  # the last look could not read the metrics
        return f"Watching: the metrics could not be read ({verdict.reason}); {next_look}."
    if figures is None:
        return f"Watching: no whole minute after the {kind.value} is in yet; {next_look}."
    return (f"Watching: {_devices_of(figures)} ({_pct(figures.devices_pct, 1)} %) "
            f"{figures.minutes_after} min after the {kind.value}; {next_look}.")


def devices_sparkline(metrics: MetricMinutes, *, start: datetime, end: datetime,
                      now: datetime, rules: VerifyRules, baseline: float | None = None) -> str:
    """Connected devices a minute a character from ``start`` to ``end``, up to the last
    minute settled at ``now`` (a younger one may still fill in); empty minutes as '·'."""
    devices = metrics.devices_by_minute()
    minutes = []
    at = start
    while at < end and settled(at, now, rules):
        minutes.append(devices.get(at))
        at += MINUTE
    return sparkline(minutes, top=baseline)


def sparkline(values: Sequence[float | None], *, top: float | None = None) -> str:
    """Each value as one of ``▁▂▃▄▅▆▇█`` from 0 to ``top`` (default: the largest value)."""
    present = [v for v in values if v is not None]
    ceiling = max([*present, top or 0.0], default=0.0)
    if ceiling <= 0:
        return "".join(EMPTY_MINUTE if v is None else SPARKS[0] for v in values)
    last = len(SPARKS) - 1
    return "".join(EMPTY_MINUTE if v is None
                   else SPARKS[min(last, max(0, round(v / ceiling * last)))] for v in values)


def _devices_of(figures: Figures) -> str:
    return f"{math.floor(figures.devices):,} of {round(figures.baseline_devices):,} devices"


def _telemetry(figures: Figures) -> str:
    pct = figures.telemetry_pct
    if pct is None:
        return "no telemetry in the hour before to compare with"
    return f"telemetry at {_pct(pct, 0)} % of the hour before"


def _pct(value: Fraction, decimals: int) -> str:
    """``value`` cut (not rounded) to ``decimals``; no trailing ".0"."""
    scale = 10 ** decimals
    cut = Fraction(math.floor(value * scale), scale)
    text = f"{float(cut):.{decimals}f}"
    return text[:-2] if decimals and text.endswith(".0") else text


def _sentence(text: str) -> str:
    text = text.strip() or "no reason was given"
    return text if text.endswith((".", "!", "?")) else text + "."
