"""The simulated hubs' Azure Monitor minutes, computed on demand from when each hub moved.

Nothing is stored per minute: a minute's figures follow from the hub's device count, its
traffic parameters and its moves (POST and completion, on Azure's timeline), so a fleet of
thousands of hubs answers any span at once and the same minute always reads the same.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.model import HubRef
from bot.domain.verification import MINUTE, MetricMinutes, MinutePoint, ceil_minute, floor_minute
from bot.hubs.gateway import Forbidden, Throttled
from bot.hubs.hub_metrics import READ_PERMISSION

RECONNECT_TAU = 90.0  # seconds: 1 − e^(−t/τ) is above 95 % some 4.5 minutes after completion
DURING = 0.003  # the share of devices still counted while a failover runs: near 0
NOISE = 0.01  # ±1 % from one minute to the next
_SAMPLES = 6  # looks per minute: a minute that mixes before and after averages them
_SETTLED = 25 * RECONNECT_TAU  # after this, e^(−t/τ) is below 1e-10: reconnected for good
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Traffic:
    """How one hub shows in Azure Monitor when nothing happens to it."""

    devices: int
    per_device: float  # messages per device per minute
    recovers_to: float = 1.0  # the share of its devices that reconnect after a move
    noise_key: int = 0  # seeds the minute-to-minute noise, reproducibly


@dataclass(frozen=True)
class Move:
    """One operation on the hub, on Azure's timeline: devices drop at the POST and reconnect
    from the completion (a failed operation too: the hub was unreachable meanwhile)."""

    posted: datetime
    completed: datetime


def hub_traffic(devices: int, recovers_to: float, rng: random.Random) -> Traffic:
    """A hub's traffic: 1 to 6 messages per device a minute, its noise seeded from ``rng``."""
    if not 0 <= recovers_to <= 1:
        raise ValueError("recovers_to is a share of the devices, from 0 to 1")
    return Traffic(devices, rng.uniform(1.0, 6.0), recovers_to, rng.getrandbits(64))


def metric_minutes(traffic: Traffic, moves: Sequence[Move], start: datetime, end: datetime,
                   *, now: datetime, late: timedelta) -> MetricMinutes:
    """The minutes from ``start``'s to ``end`` (rounded up) as Azure has them at ``now``:
    a minute not yet begun is absent; one that ended less than ``late`` ago is partial (its
    Total the part received so far, its Average None); an idle hub's minutes are empty."""
    first, last = floor_minute(start.astimezone(UTC)), ceil_minute(end.astimezone(UTC))
    # Seconds since the epoch from here on: a fleet's reads are many, datetimes slow.
    spans = sorted((move.posted.timestamp(), move.completed.timestamp()) for move in moves)
    first_s, now_s, whole_after = first.timestamp(), now.timestamp(), 60 + late.total_seconds()
    devices: list[MinutePoint] = []
    telemetry: list[MinutePoint] = []
    for i in range(min(int((last - first) / MINUTE), int((now_s - first_s) // 60) + 1)):
        minute, minute_s = first + i * MINUTE, first_s + 60 * i
        count, messages = _whole_minute(traffic, spans, minute_s)
        received = (now_s - minute_s) / whole_after
        if received < 1:
            count = None
            messages = None if messages is None else float(round(messages * received))
        devices.append(MinutePoint(minute, count))
        telemetry.append(MinutePoint(minute, messages))
    return MetricMinutes(tuple(devices), tuple(telemetry))


def _whole_minute(traffic: Traffic, spans: Sequence[tuple[float, float]],
                  minute: float) -> tuple[float | None, float | None]:
    """The Average connected devices and Total messages of the minute from ``minute`` (epoch
    seconds), once all of it is in."""
    if traffic.devices <= 0:
        return None, None  # a hub without devices sends Azure Monitor nothing
    share = _steady_share(spans, minute, traffic.recovers_to)
    if share is None:
        share = sum(connected_share(spans, minute + (i + 0.5) * 60 / _SAMPLES,
                                    traffic.recovers_to) for i in range(_SAMPLES)) / _SAMPLES
    devices_noise, messages_noise = _noise(traffic.noise_key, int(minute) // 60)
    count = traffic.devices * share * devices_noise
    return float(round(count)), float(round(count * traffic.per_device * messages_noise))


def _steady_share(spans: Sequence[tuple[float, float]], minute: float,
                  recovers_to: float) -> float | None:
    """The share of devices connected all through the minute when it does not change in it
    (most minutes: before any move, or long after one); None: it changes, look closer."""
    latest = None
    for posted, completed in spans:
        if posted >= minute + 60:
            break
        latest = (posted, completed)
    if latest is None:
        return 1.0
    posted, completed = latest
    if posted > minute:
        return None
    if minute + 60 <= completed:
        return DURING
    return recovers_to if minute - completed > _SETTLED else None


def connected_share(spans: Sequence[tuple[float, float]], at: float,
                    recovers_to: float) -> float:
    """The share of the hub's devices connected at ``at``, given its moves' (POST,
    completion) in order, all in epoch seconds on Azure's timeline."""
    completed = None
    for posted, done in spans:
        if posted > at:
            break
        completed = done
    if completed is None:
        return 1.0
    if at < completed:
        return DURING
    return DURING + (recovers_to - DURING) * (1 - math.exp((completed - at) / RECONNECT_TAU))


def _noise(key: int, minute: int) -> tuple[float, float]:
    """Two factors of 1 ± NOISE for the minute (devices, messages), the same every time:
    splitmix64, much cheaper than a seeded Random per minute."""
    z = (key + (minute + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    low, high = (z & 0xFFFFFFFF) / 0xFFFFFFFF, (z >> 32) / 0xFFFFFFFF
    return 1 + NOISE * (2 * low - 1), 1 + NOISE * (2 * high - 1)


def metrics_denied(ref: HubRef, client: str) -> Forbidden:
    """Azure's 403 when the bot's identity may not read the hub's metrics."""
    scope = (f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
             f"/providers/Microsoft.Devices/IotHubs/{ref.name}/providers/Microsoft.Insights")
    return Forbidden(
        f"The client '{client}' with object id '{client}' does not have authorization to "
        f"perform action '{READ_PERMISSION}' over scope '{scope}' or the scope is invalid. "
        "If access was recently granted, please refresh your credentials.",
        code="AuthorizationFailed", permission=READ_PERMISSION)


def metrics_throttled(retry_after: float) -> Throttled:
    """Azure Monitor's 429 (it throttles reads per subscription and per caller)."""
    return Throttled("The request was throttled: too many metrics requests. Please retry "
                     "after the time in the Retry-After header.", code="TooManyRequests",
                     retry_after=retry_after)
