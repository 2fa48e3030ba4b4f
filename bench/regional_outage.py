"""A regional outage: 500 hubs failing over at once, on one poller process.

The simulated fleet (``generate_fleet``) behind a wrapper that adds Azure's latency to every
call (100–300 ms a read, ~500 ms a start, real ``time.sleep``), the real service, the SQLite
store and the real poller (``run_forever``, 64 workers, 30 s poll interval). Time is real
except that failovers run ``SPEED``× faster than Azure's documented durations, so a 2M-device
hub is done in a couple of minutes. Starts are issued by 32 threads (approvals arriving at once).

Measured: the delay from Azure finishing to the bot recording it (detection) and to the
completion being handed to Slack (notice), Azure status polls (and all reads) per operation,
Slack calls per minute at
the notifier, CPU time and peak RSS of the process. Baselines, stated: detection is judged
against one poll interval + 2 s (the design bar); status polls per operation against the
theoretical minimum of one per poll interval of each operation's own duration; notices against the
fastest drain Slack's limits allow (50 chat.update a minute, each completion costs one).
"""

from __future__ import annotations

import math
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import _common

from bot.domain.clock import SystemClock
from bot.domain.model import HubRef, HubState, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.hubs.gateway import OperationPoll
from bot.notifications import CompletionReport, ProgressUpdate
from bot.poller import Poller
from bot.service import FailoverService, SubmitFailover, Submitted
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

SPEED = 40.0
POLL_INTERVAL = timedelta(seconds=30)
# BOT_POLL_WORKERS sized for a fleet-wide outage: 500 polls of ~200 ms each fit in 2 s.
WORKERS = 64
DETECTION_SLACK = timedelta(seconds=2)
UPDATES_PER_MINUTE = 50
CHANNELS = [f"C0INC{i}" for i in range(5)]


class LatentGateway:
    """The simulator with Azure's latency; counts calls (reads and starts)."""

    def __init__(self, inner: SimulatedIotHubGateway, seed: int = 3) -> None:
        self.inner = inner
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.reads: Counter[str] = Counter()  # every read, by hub
        self.polls: Counter[str] = Counter()  # reads of the operation's status, by hub

    def _wait(self, low: float, high: float) -> None:
        with self._lock:
            delay = self._rng.uniform(low, high)
        time.sleep(delay)

    def list_hubs(self) -> list[HubState]:
        self._wait(0.3, 0.6)
        return self.inner.list_hubs()

    def resolve(self, name: str) -> HubRef:
        return self.inner.resolve(name)  # cached by the real gateway: no Azure call

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        self._wait(0.1, 0.3)
        with self._lock:
            self.reads[ref.name] += 1
        return self.inner.get_state(ref, with_device_count=with_device_count)

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        self._wait(0.4, 0.6)
        return self.inner.start_failover(ref, target_region)

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        self._wait(0.1, 0.3)
        with self._lock:
            self.reads[ref.name] += 1
            self.polls[ref.name] += 1
        return self.inner.poll(ref, handle)


class SlackMeter:
    """Stands in for Slack behind the poller's rate limiter: when each call arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[float, str, str]] = []  # (monotonic, kind, channel)
        self.completions: dict[str, float] = {}

    def request_changed(self, request: FailoverRequest) -> None:
        self._note("update", request.channel_id)

    def progress(self, update: ProgressUpdate) -> None:
        self._note("post" if update.milestone else "update", update.request.channel_id)

    def completed(self, report: CompletionReport) -> None:
        self._note("update", report.request.channel_id)
        self._note("post", report.request.channel_id)
        with self._lock:
            self.completions.setdefault(report.request.id, time.monotonic())

    def _note(self, kind: str, channel: str) -> None:
        with self._lock:
            self.calls.append((time.monotonic(), kind, channel))


def most_in_window(times: list[float], window: float) -> int:
    times, most, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> int:
    args = _common.parse_args(__doc__ or "")
    hubs = 100 if args.quick else 500
    _common.header(f"regional outage: {hubs} hubs failing over at once", args.quick)
    clock = SystemClock()
    sim = SimulatedIotHubGateway(clock, speed=SPEED)
    refs = sim.generate_fleet(hubs)
    gateway = LatentGateway(sim)
    meter = SlackMeter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'outage.db'}"
        upgrade(url)
        engine = make_engine(url)
        uow = unit_of_work_factory(engine)
        service = FailoverService(uow=uow, gateway=gateway, clock=clock,
                                  access=AccessPolicy(require_approval=False),
                                  poll_interval=POLL_INTERVAL)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.monotonic()

        def start(i_ref: tuple[int, HubRef]) -> str:
            i, ref = i_ref
            state = sim.get_state(ref, with_device_count=False)
            result = service.asking.submit(SubmitFailover(
                actor=Actor("U0ONCALL"), channel_id=CHANNELS[i % len(CHANNELS)],
                hub_name=ref.name, kind=OperationKind.FAILOVER, typed_name=ref.name,
                reason="INC-500 regional outage", expected_active_region=state.active_region))
            assert isinstance(result, Submitted), result
            started = service.starts.start(result.request.id)
            assert started is not None and started.status is RequestStatus.RUNNING, started
            return started.id

        poller = Poller(service, uow, meter, clock, poll_interval=POLL_INTERVAL,
                        max_workers=WORKERS, batch_size=100)
        stop = threading.Event()
        worker = threading.Thread(target=poller.run_forever, args=(stop,), daemon=True)
        worker.start()
        with ThreadPoolExecutor(32) as pool:
            ids = list(pool.map(start, enumerate(refs)))
        started_s = time.monotonic() - wall0
        print(f"-- {hubs} failovers started in {started_s:.1f} s "
              f"({sim.calls['start_failover']} POSTs)")
        # Azure's own end of each operation, from the simulator (what the bot must notice).
        azure_end = {op.ref.name: op.ends_at for op in sim._operations.values()}
        last_end = max(azure_end.values())
        budget = (last_end - clock.now()).total_seconds() + hubs * 60 / UPDATES_PER_MINUTE + 120
        deadline = time.monotonic() + max(budget, 60)
        while len(meter.completions) < hubs and time.monotonic() < deadline:
            time.sleep(1)
        stop.set()
        worker.join(timeout=60)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - wall0
        with uow() as work:
            requests = [work.requests.get(i) for i in ids]
        engine.dispose()
    done = [r for r in requests if r is not None and r.status is RequestStatus.SUCCEEDED]
    detection = [(r.completed_at - azure_end[r.hub.name]).total_seconds() for r in done
                 if r.completed_at is not None]
    # Notices: wall-clock arrival at "Slack", mapped onto the same clock as Azure's end.
    offset = datetime.now(clock.now().tzinfo).timestamp() - time.monotonic()
    notice = [meter.completions[r.id] + offset - azure_end[r.hub.name].timestamp()
              for r in done if r.id in meter.completions]
    # The floor: one status read per poll interval of the operation's own duration.
    ideal_polls = [math.ceil((azure_end[r.hub.name] - r.started_at) / POLL_INTERVAL)
                   for r in done if r.started_at]
    polls = [gateway.polls[r.hub.name] for r in done]
    reads = [gateway.reads[r.hub.name] for r in done]
    updates = [at for at, kind, _ in meter.calls if kind == "update"]
    posts_by_channel: dict[str, list[float]] = {}
    for at, kind, channel in meter.calls:
        if kind == "post":
            posts_by_channel.setdefault(channel, []).append(at)
    drain_min = len(done) * 60 / UPDATES_PER_MINUTE
    bar = (POLL_INTERVAL + DETECTION_SLACK).total_seconds()
    rows: list[list[object]] = [
        ["operations succeeded", f"{len(done)} / {hubs}", f"{hubs}"],
        ["Azure POSTs", sim.calls["start_failover"], f"{hubs} (one each)"],
        ["detection delay p50 / max s", f"{_common.median(detection):.1f} / {max(detection):.1f}",
         f"<= {bar:.0f} (poll interval + 2 s)"],
        ["Azure status polls per operation", f"{sum(polls) / len(polls):.2f}",
         f"{sum(ideal_polls) / len(ideal_polls):.2f} (1 per interval)"],
        ["Azure reads per operation, all", f"{sum(reads) / len(reads):.2f}",
         "+ submit, pre-start check, final re-read"],
        ["notice delay p50 / max s", f"{_common.median(notice):.1f} / {max(notice):.1f}",
         f"drain >= {drain_min:.0f} s at {UPDATES_PER_MINUTE} updates/min"],
        ["Slack chat.update in any minute", most_in_window(updates, 60),
         f"<= {UPDATES_PER_MINUTE}"],
        ["Slack posts per channel in any second",
         max(most_in_window(t, 1.0) for t in posts_by_channel.values()), "<= 1"],
        ["CPU time s (user+sys) / wall s",
         f"{cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime:.1f} / {wall:.0f}", ""],
        ["peak RSS MiB", f"{cpu1.ru_maxrss / 1024:.0f}", ""],
        ["threads (poller workers)", str(WORKERS), "not one per operation"],
    ]
    print(_common.table(["figure", "measured", "baseline / bar"], rows))
    if len(done) != hubs:
        failures.append(f"only {len(done)} of {hubs} succeeded")
    if sim.calls["start_failover"] != hubs:
        failures.append(f"{sim.calls['start_failover']} POSTs for {hubs} operations")
    if max(detection) > bar:
        failures.append(f"slowest detection {max(detection):.1f} s > {bar:.0f} s")
    if len(notice) != len(done):
        failures.append(f"{len(done) - len(notice)} completions never reached Slack")
    if most_in_window(updates, 60) > UPDATES_PER_MINUTE:
        failures.append("Slack's chat.update budget was exceeded")
    reads_ratio = sum(polls) / sum(ideal_polls)
    if reads_ratio > 1.5:
        failures.append(f"{reads_ratio:.2f}x the minimum Azure status polls")
    return _common.verdict(failures, f"{hubs} hubs: detection max {max(detection):.1f} s "
                                     f"(<= {bar:.0f}), polls {reads_ratio:.2f}x the minimum, "
                                     f"notices max {max(notice):.0f} s (drain floor "
                                     f"{drain_min:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
