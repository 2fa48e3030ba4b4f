"""A drill's report: measured figures for each leg, both verdicts, the quota used, and each
figure against the hub's previous drill ("failover 14 min, 2 min slower than the last drill
on 2026-09-03"). Plain values in, plain JSON-ready values and words out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.domain.durations import humanize
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.verification import MINUTE
from bot.domain.verification_state import Verification, VerifyStatus

# The figures, in the order the report says them: (key, words).
FIGURES = (("to_accepted_s", "approval to Azure's acceptance"),
           ("to_active_s", "to active in the paired region"),
           ("to_verified_s", "to devices verified"))


def leg_figures(leg: FailoverRequest | None, verification: Verification | None,
                azure_completed: datetime | None) -> dict[str, Any]:
    """One leg's measured figures (seconds), its verdict and, if it failed, Azure's words.
    ``azure_completed``: its completion on Azure's timeline (the verdict's minutes are)."""
    if leg is None:
        return {"ran": False}
    figures: dict[str, Any] = {"request": leg.id, "ran": leg.status.ran,
                               "status": leg.status.value}
    if leg.decided_at and leg.started_at:
        figures["to_accepted_s"] = _seconds(leg.started_at - leg.decided_at)
    if leg.started_at and leg.completed_at and leg.status is RequestStatus.SUCCEEDED:
        figures["to_active_s"] = _seconds(leg.completed_at - leg.started_at)
    if verification is not None and verification.status.verdict:
        figures["verdict"] = verification.status.value
        if (verification.status is VerifyStatus.VERIFIED and verification.figures
                and azure_completed is not None):
            end = verification.figures.minute + MINUTE
            figures["to_verified_s"] = _seconds(end - azure_completed)
    if leg.status is RequestStatus.FAILED:
        figures["error"] = f"{leg.error_message or 'no reason given'} ({leg.error_code})"
    return figures


def compared(now: Mapping[str, Any], before: Mapping[str, Any] | None,
             before_at: datetime | None, *, home: bool = False) -> dict[str, str]:
    """Each figure of a leg in words, against the same figure of the previous drill
    (``home``: the failback leg, which ends active at home)."""
    said: dict[str, str] = {}
    for key, words in FIGURES:
        if key not in now:
            continue
        if home and key == "to_active_s":
            words = "to active at home"
        text = f"{words} {humanize(timedelta(seconds=now[key]))}"
        if before is not None and key in before and before_at is not None:
            delta = now[key] - before[key]
            if abs(delta) < 30:
                text += f", as the last drill on {before_at:%Y-%m-%d}"
            else:
                way = "slower" if delta > 0 else "faster"
                text += (f", {humanize(timedelta(seconds=abs(delta)))} {way} than the last "
                         f"drill on {before_at:%Y-%m-%d}")
        said[key] = text
    return said


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)
