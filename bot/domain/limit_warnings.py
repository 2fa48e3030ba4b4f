"""Limits looser than Azure's, and limits on a faster clock (the sandbox's ``--speed``).

A bot configured to allow what Azure refuses still starts, but says so at start-up and in
``failover-bot doctor``: the refusal would otherwise come from Azure, mid-incident.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.durations import humanize
from bot.domain.rules import Limits

AZURE_COOLDOWN = timedelta(hours=1)
AZURE_DAILY_LIMIT = 2


def lenient_limit_warnings(limits: Limits) -> list[str]:
    """One sentence per setting that lets people ask for what Azure will refuse."""
    warnings: list[str] = []
    if limits.failback_cooldown < AZURE_COOLDOWN:
        warnings.append(
            f"BOT_FAILBACK_COOLDOWN={humanize(limits.failback_cooldown)} is shorter than "
            "Azure's hour: the bot will allow failbacks that Azure refuses.")
    for variable, value in (("BOT_DAILY_FAILOVER_LIMIT", limits.failovers_per_day),
                            ("BOT_DAILY_FAILBACK_LIMIT", limits.failbacks_per_day)):
        if value > AZURE_DAILY_LIMIT:
            warnings.append(
                f"{variable}={value} is above Azure's {AZURE_DAILY_LIMIT} a day: the bot will "
                "allow operations that Azure refuses.")
    return warnings


def scaled_limits(limits: Limits, time_scale: float) -> Limits:
    """The cool-down on a clock running ``time_scale`` times faster than Azure's."""
    if time_scale == 1:
        return limits
    return replace(limits, failback_cooldown=limits.failback_cooldown / time_scale)


def speed_note(time_scale: float) -> str | None:
    """What a dialog or status says when time is not Azure's (the sandbox)."""
    if time_scale == 1:
        return None
    return (f"sandbox: {time_scale:g}× faster than Azure — estimates and the failback "
            "cool-down are scaled")
