"""Quota checks that read Azure's Activity Log: dialog preparation with and without the cache.

Every dialog (``FailoverService.preview``) now reads the hub's Activity Log so that operations
done outside the bot count. That call is slow: ARM answers Activity Log queries in a few
hundred milliseconds. Here it is simulated at 150–400 ms (uniform, seeded) in front of the
simulated fleet, whose other calls answer at once, through the real service on a SQLite file.

The access pattern is an incident: on-call engineers open dialogs for a handful of hubs, one
every 5 s of (injected) clock time. Without the cache every preparation pays the Activity Log
call; with it (BOT_ACTIVITY_LOG_TTL = 60 s) a hub's first preparation in a minute does.
Target: median with the cache ≤ 50 ms and at least 3× faster than without.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import _common

from bot.domain.clock import FakeClock
from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, OperationKind
from bot.domain.policy import Actor
from bot.hubs.activity import ActivityLogReader, CachedActivityLog
from bot.service import FailoverService, Preview
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

LATENCY_MS = (150.0, 400.0)
TTL = timedelta(seconds=60)
STEP = timedelta(seconds=5)  # between two dialogs
HOT_HUBS = 5
FLEET = 50
CACHED_TARGET_MS = 50.0
MIN_SPEED_UP = 3.0


class SlowActivityLog:
    """The simulated fleet's Activity Log, answering as slowly as ARM does."""

    def __init__(self, inner: ActivityLogReader, rng: random.Random) -> None:
        self.inner = inner
        self.rng = rng
        self.calls = 0

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        self.calls += 1
        time.sleep(self.rng.uniform(*LATENCY_MS) / 1000)  # the network, not the bot
        return self.inner.failover_operations(ref, since)


def run(samples: int, mode: str, workdir: Path) -> tuple[list[float], int]:
    """``mode``: ``none`` (no Activity Log, as before), ``uncached`` or ``cached``."""
    clock = FakeClock()
    fleet = SimulatedIotHubGateway(clock, seed=11)
    hubs = [ref.name for ref in fleet.generate_fleet(FLEET)]
    for name in hubs[:HOT_HUBS:2]:  # some were failed over and back in the portal today
        fleet.outside_failover(name, caller="oncall@contoso.com", ago=timedelta(hours=9))
        fleet.outside_failover(name, caller="oncall@contoso.com", ago=timedelta(hours=5))
    url = f"sqlite:///{workdir / f'{mode}.db'}"
    upgrade(url)
    engine = make_engine(url)
    slow = SlowActivityLog(fleet, random.Random(3))
    reader: ActivityLogReader | None = {
        "none": None, "uncached": slow, "cached": CachedActivityLog(slow, clock, TTL)}[mode]
    service = FailoverService(uow=unit_of_work_factory(engine), gateway=fleet, clock=clock,
                              activity=reader)
    actor = Actor("U0ONCALL")
    rng = random.Random(5)
    timings = []
    for _ in range(samples):
        hub = rng.choice(hubs[:HOT_HUBS])
        started = time.perf_counter()
        preview = service.asking.preview(actor, "C0INCIDENT", hub, OperationKind.FAILOVER)
        timings.append((time.perf_counter() - started) * 1000)
        assert isinstance(preview, Preview), preview
        clock.advance(STEP)
    engine.dispose()
    return timings, slow.calls


def main() -> int:
    args = _common.parse_args(__doc__ or "")
    _common.header("Activity Log: dialog preparation with and without the cache", args.quick)
    uncached_n, cached_n = (12, 60) if args.quick else (40, 240)
    print(f"   Activity Log latency {LATENCY_MS[0]:.0f}–{LATENCY_MS[1]:.0f} ms, "
          f"{HOT_HUBS} hot hubs of {FLEET}, a dialog every {STEP.seconds} s, "
          f"TTL {TTL.seconds} s")
    with tempfile.TemporaryDirectory() as tmp:
        before, _ = run(cached_n, "none", Path(tmp))
        uncached, uncached_calls = run(uncached_n, "uncached", Path(tmp))
        cached, cached_calls = run(cached_n, "cached", Path(tmp))
    rows = []
    for name, timings, calls in (("no Activity Log (before)", before, 0),
                                 ("without cache", uncached, uncached_calls),
                                 ("with cache", cached, cached_calls)):
        rows.append([name, len(timings), _common.median(timings),
                     _common.percentile(timings, 95), calls,
                     f"{100 * calls / len(timings):.0f} %"])
    print(_common.table(["preview", "dialogs", "median ms", "p95 ms", "Activity Log calls",
                         "calls/dialog"], rows))
    speed_up = _common.median(uncached) / _common.median(cached)
    print(f"   ratio of medians (without / with cache): {speed_up:.1f}×")
    failures = []
    if _common.median(cached) > CACHED_TARGET_MS:
        failures.append(f"cached median {_common.median(cached):.1f} ms > {CACHED_TARGET_MS} ms")
    if speed_up < MIN_SPEED_UP:
        failures.append(f"speed-up {speed_up:.1f}× < {MIN_SPEED_UP}×")
    return _common.verdict(failures, f"median {_common.median(cached):.1f} ms with the cache, "
                                     f"{_common.median(uncached):.0f} ms without "
                                     f"({speed_up:.1f}×)")


if __name__ == "__main__":
    raise SystemExit(main())
