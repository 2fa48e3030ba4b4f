"""A regional outage: every hub of a region failed over, as one batch against as many singles.

N hubs (1,000; ``--quick``: 100), all active in West Europe, 1k–2M devices, on the simulated
fleet behind a wrapper that adds Azure's latency with real sleeps (100–300 ms a read, 400–600 ms
a start, 150–400 ms an Activity Log query, behind the bot's 60 s Activity Log cache); the real
service, a SQLite store and the real poller (``run_forever``, 64 workers, batch 100, 30 s poll
interval) with its own ``RateLimitedNotifier`` in front of a meter standing in for Slack. Time
is real, except that failovers run ``SPEED``× faster than Azure's documented durations.

Three scenarios, each in a child process of its own (so CPU time and peak RSS are per
process), one after the other in the same run:

* **batch** — regional-outage mode: the dialog reads the region (``regional.preview``), the
  requester submits every eligible hub (``regional.submit``), another person approves
  (``batches.approve``): starts are paced at ``batch_starts_per_minute`` (set to N × 0.6 a
  minute, so the starts take ~100 s; 600/min at 1,000 hubs), one board per batch.
* **singles** — today's path for the same hubs: one ``asking.submit`` + ``starts.start`` per
  hub from 32 threads (approvals arriving at once; approval not required), each request with its
  own Slack messages.
* **verify** — the batch again, then every hub verified from Azure Monitor's minutes
  (``VerifyRules``: 3 min metrics delay, 15 min window; the fleet as ``hub_metrics`` on its
  timeline; the poller's read budget at the default 10 a second). Not in real time: a
  ``FakeClock`` moved on after each ``run_once`` round (a second, or to what is due next),
  the fleet at Azure's own pace (its minutes, its reconnections), so the poll interval, the
  metrics delay and ARM's per-second budget are on one clock; Azure answers at once, and its
  failovers end ``FAILOVERS_SHORTER``× sooner than documented (at Azure's own 8–33 min the
  1,000 hubs are polled ~28,000 times: well past 5 minutes of this bench on 2 cores; run so
  with ``--failovers-shorter 1``). One hub in a hundred reconnects
  only 40 % of its devices. Reported: metric reads per hub; completion → verdict against the
  earliest possible verdict and against the data's own (a look as each minute settles); every
  ARM read after the approval, replayed through ARM's bucket (25 a second, burst 250) and the
  bot's (10 a second, burst 50); see ``_outage_verify.py``.

Checked, for each: ARM writes (POSTs) in any 60 s and any 1 s window — the batch never above
its configured rate (R a minute, one interval apart: at most R + 1 in any 60 s and ⌈R/60⌉ + 1
in any second; the singles' burst is the comparison); Slack ``chat.update`` in any minute (≤
50), posts per channel (≤ 1 a second) and board edits per board (≤ 1 per 5 s); completion
detection (the simulator's ``ends_at`` → the request's ``completed_at``) within one poll
interval + 2 s, the design bar; exactly one POST per hub in the batch. The singles are not
waited for until Slack has drained their messages: what is still queued at the end is
reported.
``python bench/regional_outage.py --scenario batch --hubs 100`` runs one scenario alone and
prints its figures as one JSON line; ``--verify-only`` runs the verify scenario alone with its
table and verdict (``--quick``: 100 hubs, under a minute).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common
import _outage_verify as outage_verify
from sqlalchemy import text

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, HubState, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.verification import BASELINE_SPAN, VerifyRules
from bot.domain.verification_state import Verification
from bot.hubs.activity import CachedActivityLog, InvalidatingGateway
from bot.hubs.gateway import OperationPoll
from bot.notifications import CompletionReport, ProgressUpdate
from bot.poller import Poller
from bot.poller.ratelimit import RateLimitedNotifier
from bot.service import (
    BatchSubmitted,
    Board,
    FailoverService,
    RegionPreview,
    SubmitBatch,
    SubmitFailover,
    Submitted,
)
from bot.service.verifying import READS_PER_LOOK
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

SPEED = 40.0
POLL_INTERVAL = timedelta(seconds=30)
# BOT_POLL_WORKERS sized for a fleet-wide outage: 500 polls of ~200 ms each fit in 2 s.
WORKERS = 64
BATCH_SIZE = 100
DETECTION_SLACK = timedelta(seconds=2)
UPDATES_PER_MINUTE = 50
BOARD_EDIT_INTERVAL = 5.0
ACTIVITY_TTL = timedelta(seconds=60)
CHANNELS = [f"C0INC{i}" for i in range(5)]
BATCH_CHANNEL = CHANNELS[0]
REQUESTER, APPROVER = Actor("U0ALICE"), Actor("U0BOB")
REGION = "West Europe"
SCENARIOS = ("batch", "singles", "verify")
PARTIAL_RECOVERY = 0.4
# Verification as deployed: BOT_VERIFY_METRICS_DELAY 3 min, BOT_VERIFY_WINDOW 15 min (the
# default), BOT_VERIFY_READS_PER_SECOND 10 (the default).
VERIFY_RULES = VerifyRules(window=timedelta(minutes=15), metrics_delay=timedelta(minutes=3))
# The verify scenario's failovers end this many times sooner than Azure's documented 8–33 min
# (2–8 min): at Azure's own, 1,000 hubs are polled ~28,000 times, well past 5 minutes of this
# bench on 2 cores (``--failovers-shorter 1`` runs them so).
FAILOVERS_SHORTER = 4.0
VERIFY_STEP = timedelta(seconds=1)  # the verify scenario's clock: at least a second a round
VERIFY_START = datetime(2026, 12, 2, 9, 0, 7, tzinfo=UTC)


def starts_per_minute(hubs: int) -> int:
    """The bench's bucket: the batch's starts take ~100 s (600/min at 1,000 hubs)."""
    return max(1, round(hubs * 0.6))


class LatentGateway:
    """The simulator with Azure's latency; counts calls and notes when each POST went."""

    def __init__(self, inner: SimulatedIotHubGateway, seed: int = 3) -> None:
        self.inner = inner
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.reads: Counter[str] = Counter()  # hub reads and status polls, by hub
        self.polls: Counter[str] = Counter()  # reads of the operation's status, by hub
        self.activity: Counter[str] = Counter()  # Activity Log queries, by hub
        self.posts: list[tuple[float, str]] = []  # (epoch s when sent, hub)
        self.lists = 0

    def _wait(self, low: float, high: float) -> None:
        with self._lock:
            delay = self._rng.uniform(low, high)
        time.sleep(delay)

    def list_hubs(self) -> list[HubState]:
        self._wait(0.3, 0.6)
        with self._lock:
            self.lists += 1
        return self.inner.list_hubs()

    def resolve(self, name: str) -> HubRef:
        return self.inner.resolve(name)  # cached by the real gateway: no Azure call

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        self._wait(0.1, 0.3)
        with self._lock:
            self.reads[ref.name] += 1
        return self.inner.get_state(ref, with_device_count=with_device_count)

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        with self._lock:
            self.posts.append((time.time(), ref.name))
        self._wait(0.4, 0.6)
        return self.inner.start_failover(ref, target_region)

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        self._wait(0.1, 0.3)
        with self._lock:
            self.reads[ref.name] += 1
            self.polls[ref.name] += 1
        return self.inner.poll(ref, handle)

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        self._wait(0.15, 0.4)
        with self._lock:
            self.activity[ref.name] += 1
        return self.inner.failover_operations(ref, since)


class SlackMeter:
    """Stands in for Slack behind the poller's rate limiter (requests' messages) and for the
    board notifier (a batch's board): when each call arrived, of which kind, where."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[float, str, str]] = []  # (epoch s, kind, channel)
        self.board_edits: dict[str, list[float]] = {}  # batch id -> edit times
        self.closed: list[float] = []

    # the Notifier port (after the rate limiter)
    def request_changed(self, request: FailoverRequest) -> None:
        self._note("update", request.channel_id)

    def progress(self, update: ProgressUpdate) -> None:
        self._note("post" if update.milestone else "update", update.request.channel_id)

    def completed(self, report: CompletionReport) -> None:
        self._note("update", report.request.channel_id)
        self._note("post", report.request.channel_id)

    # the BoardNotifier port (the keeper spends the same budget first)
    def show_board(self, board: Board) -> None:
        at = self._note("update", board.batch.channel_id)
        with self._lock:
            self.board_edits.setdefault(board.batch.id, []).append(at)

    def failure(self, board: Board, request: FailoverRequest) -> None:
        self._note("post", board.batch.channel_id)

    def finished(self, board: Board) -> None:
        at = self._note("post", board.batch.channel_id)
        with self._lock:
            self.closed.append(at)

    def _note(self, kind: str, channel: str) -> float:
        at = time.time()
        with self._lock:
            self.calls.append((at, kind, channel))
        return at


class DemandMeter(RateLimitedNotifier):
    """The poller's rate limiter, noting what was asked of it (before Slack's limits)."""

    def __init__(self, inner: SlackMeter, clock: SystemClock) -> None:
        super().__init__(inner, clock)
        self.asked: list[float] = []

    def request_changed(self, request: FailoverRequest) -> None:
        self.asked.append(time.time())
        super().request_changed(request)

    def progress(self, update: ProgressUpdate) -> None:
        self.asked.append(time.time())
        super().progress(update)

    def completed(self, report: CompletionReport) -> None:
        self.asked.append(time.time())
        super().completed(report)


def progress(message: str) -> None:
    print(f"   {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def most_in_window(times: Sequence[float], window: float) -> int:
    ordered, most, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def region_fleet(sim: SimulatedIotHubGateway, hubs: int) -> list[HubRef]:
    """``hubs`` hubs active in West Europe, devices log-uniform 1k–2M, a few priority tags;
    one in a hundred reconnects only 40 % of its devices after a move (``partial``)."""
    rng = random.Random(15)
    refs = []
    for i in range(hubs):
        devices = int(math.exp(rng.uniform(math.log(1_000), math.log(2_000_000))))
        priority = 1 + i % 3 if i % 20 == 0 else None
        refs.append(sim.add_hub(f"weu-{i:04d}", REGION, devices, priority=priority,
                                recovers_to=PARTIAL_RECOVERY if partial(i) else 1.0))
    return refs


def partial(i: int) -> bool:
    return i % 100 == 50


# ---- one scenario, in its own process -------------------------------------------------------


class Scenario:
    def __init__(self, name: str, hubs: int, tmp: str) -> None:
        self.name, self.hubs = name, hubs
        self.rate = starts_per_minute(hubs)
        self.clock = SystemClock()
        self.sim = SimulatedIotHubGateway(self.clock, speed=SPEED)
        self.refs = region_fleet(self.sim, hubs)
        self.gateway = LatentGateway(self.sim)
        cache = CachedActivityLog(self.gateway, self.clock, ACTIVITY_TTL)
        url = f"sqlite:///{Path(tmp) / 'outage.db'}"
        upgrade(url)
        self.engine = make_engine(url)
        self.uow = unit_of_work_factory(self.engine)
        self.service = FailoverService(
            uow=self.uow, gateway=InvalidatingGateway(self.gateway, cache), clock=self.clock,  # type: ignore[arg-type]
            access=AccessPolicy(require_approval=name == "batch"),
            poll_interval=POLL_INTERVAL, activity=cache, batch_starts_per_minute=self.rate)
        self.slack = SlackMeter()
        self.outbox = DemandMeter(self.slack, self.clock)
        self.poller = Poller(self.service, self.uow, self.outbox, self.clock,
                             poll_interval=POLL_INTERVAL, max_workers=WORKERS, batch_size=100,
                             boards=self.slack if name == "batch" else None)
        self.figures: dict[str, Any] = {"scenario": name, "hubs": hubs}

    def run(self) -> dict[str, Any]:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        stop = threading.Event()
        worker = threading.Thread(target=self.poller.run_forever, args=(stop,), daemon=True)
        worker.start()
        t0 = time.time()
        ids = self._batch() if self.name == "batch" else self._singles()
        done = self._wait(ids)
        stop.set()
        worker.join(timeout=60)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        with self.uow() as work:
            requests = [r for i in ids if (r := work.requests.get(i)) is not None]
        self.engine.dispose()
        self._figures(requests, t0, done)
        self.figures.update(
            cpu_s=cpu1.ru_utime + cpu1.ru_stime, run_cpu_s=(cpu1.ru_utime - cpu0.ru_utime
                                                            + cpu1.ru_stime - cpu0.ru_stime),
            wall_s=time.time() - t0, peak_rss_mib=cpu1.ru_maxrss / 1024)
        return self.figures

    def _batch(self) -> list[str]:
        started = time.time()
        preview = self.service.regional.preview(REQUESTER, BATCH_CHANNEL, REGION,
                                                OperationKind.FAILOVER)
        assert isinstance(preview, RegionPreview), preview
        self.figures["dialog_read_s"] = time.time() - started
        progress(f"dialog read {len(preview.candidates)} hubs in "
                 f"{self.figures['dialog_read_s']:.1f} s")
        self.figures["eligible"] = len(preview.eligible)
        started = time.time()
        many = len(preview.eligible) > 100
        result = self.service.regional.submit(SubmitBatch(
            actor=REQUESTER, channel_id=BATCH_CHANNEL, kind=OperationKind.FAILOVER,
            region="westeurope", typed_region=REGION, reason="INC-1000 West Europe down",
            hubs=[] if many else [c.hub.name for c in preview.eligible], all_eligible=many))
        assert isinstance(result, BatchSubmitted), result
        self.figures["submit_s"] = time.time() - started
        progress(f"submitted {len(result.members)} hubs in {self.figures['submit_s']:.1f} s")
        self.service.boards.attach_message(result.batch.id, "1700000000.000100")
        started = time.time()
        decision = self.service.batch_deciding.approve(APPROVER, result.batch.id)
        assert decision.ok and decision.changed == len(result.members), decision.refusal
        self.figures["approve_s"] = time.time() - started
        progress(f"approved in {self.figures['approve_s']:.1f} s")
        self.approved_at = time.time()
        self.batch_id = result.batch.id
        return [r.id for r in result.members]

    def _singles(self) -> list[str]:
        def start(i_ref: tuple[int, HubRef]) -> str:
            i, ref = i_ref
            state = self.sim.get_state(ref, with_device_count=False)
            result = self.service.asking.submit(SubmitFailover(
                actor=REQUESTER, channel_id=CHANNELS[i % len(CHANNELS)], hub_name=ref.name,
                kind=OperationKind.FAILOVER, typed_name=ref.name,
                reason="INC-1000 West Europe down", expected_active_region=state.active_region))
            assert isinstance(result, Submitted), result
            started = self.service.starting.start(result.request.id)
            assert started is not None and started.status is RequestStatus.RUNNING, started
            return started.id

        with ThreadPoolExecutor(32) as pool:
            ids = list(pool.map(start, enumerate(self.refs)))
        progress(f"{len(ids)} single requests submitted and started")
        return ids

    def _wait(self, ids: list[str]) -> bool:
        """Until every request ended (and the batch's board closed), or a generous deadline."""
        budget = self.hubs / self.rate * 60 + 3_600 / SPEED + 3 * POLL_INTERVAL.total_seconds()
        deadline = time.time() + budget + 120
        # One count query every 2 s: the wait must not cost the measured process much.
        query = text("SELECT count(*) FROM failover_request WHERE status IN "
                     "('awaiting_approval', 'approved', 'running')")
        while time.time() < deadline:
            time.sleep(2)
            with self.engine.connect() as connection:
                open_ = int(connection.execute(query).scalar_one())
            if open_ == 0 and (self.name != "batch" or self.slack.closed):
                progress("every request ended")
                return True
            if int(time.time()) % 30 < 2:
                progress(f"{open_} requests open, {len(self.gateway.posts)} POSTs")
        return False

    def _figures(self, requests: list[FailoverRequest], t0: float, done: bool) -> None:
        azure_end = {op.ref.name: op.ends_at for op in self.sim._operations.values()}
        ok = [r for r in requests if r.status is RequestStatus.SUCCEEDED]
        detection = [(r.completed_at - azure_end[r.hub.name]).total_seconds() for r in ok
                     if r.completed_at is not None and r.hub.name in azure_end]
        posts = [at for at, _ in self.gateway.posts]
        per_hub = Counter(hub for _, hub in self.gateway.posts)
        last_completion = max((r.completed_at.timestamp() for r in ok if r.completed_at),
                              default=float("nan"))
        updates = [at for at, kind, _ in self.slack.calls if kind == "update"]
        by_channel: dict[str, list[float]] = {}
        for at, kind, channel in self.slack.calls:
            if kind == "post":
                by_channel.setdefault(channel, []).append(at)
        edits = [t for times in self.slack.board_edits.values() for t in times]
        gaps = [b - a for times in self.slack.board_edits.values()
                for a, b in itertools.pairwise(times)]
        self.figures.update(
            finished=done, rate_per_minute=self.rate, succeeded=len(ok),
            statuses=dict(Counter(r.status.value for r in requests)),
            posts=len(posts), posts_max_per_hub=max(per_hub.values(), default=0),
            posts_min_per_hub=min(per_hub.values(), default=0),
            hubs_posted=len(per_hub), posts_60s=most_in_window(posts, 60),
            posts_1s=most_in_window(posts, 1.0),
            posts_span_s=(max(posts) - min(posts)) if posts else 0.0,
            posts_min_gap_s=min((b - a for a, b in itertools.pairwise(sorted(posts))),
                                default=float("nan")),
            first_post_s=min(posts) - t0 if posts else None,
            last_completion_s=last_completion - t0,
            detection_p50=_common.median(detection),
            detection_p99=_common.percentile(detection, 99),
            detection_max=max(detection, default=float("nan")), detected=len(detection),
            reads_per_hub=sum(self.gateway.reads.values()) / self.hubs,
            polls_per_hub=sum(self.gateway.polls.values()) / self.hubs,
            activity_per_hub=sum(self.gateway.activity.values()) / self.hubs,
            list_hubs=self.gateway.lists,
            slack_updates=len(updates), slack_updates_60s=most_in_window(updates, 60),
            slack_posts=sum(len(t) for t in by_channel.values()),
            slack_posts_per_channel_1s=max((most_in_window(t, 1.0)
                                            for t in by_channel.values()), default=0),
            slack_asked=len(self.outbox.asked),
            slack_asked_60s=most_in_window(self.outbox.asked, 60),
            slack_backlog=self.outbox.backlog(),
            board_edits=len(edits), board_edits_60s=most_in_window(edits, 60),
            board_min_gap_s=min(gaps, default=float("nan")),
            boards_closed=len(self.slack.closed),
            post_offsets=[round(at - t0, 3) for at in sorted(posts)],
        )
        if self.name == "batch":
            self.figures["approved_to_last_post_s"] = max(posts) - self.approved_at


class VerifyScenario(Scenario):
    """The batch, then every hub verified, on a FakeClock moved on after each ``run_once``
    round: the fleet at speed 1 (its metrics' minutes and reconnections at Azure's pace, its
    failovers ``shorter``× shorter), so the metrics delay, the poll interval and ARM's
    per-second read budget are on one clock and no minute is waited for in real time.
    Azure answers at once (no latency)."""

    def __init__(self, hubs: int, tmp: str, shorter: float = FAILOVERS_SHORTER,
                 rate: int | None = None) -> None:
        self.name, self.hubs = "verify", hubs
        self.rate = rate or starts_per_minute(hubs)
        self.fake = FakeClock(VERIFY_START)
        self.sim = SimulatedIotHubGateway(self.fake, speed=1.0)
        self.refs = region_fleet(self.sim, hubs)
        self.arm = outage_verify.ArmReads(self.sim, self.fake, shorter)
        cache = CachedActivityLog(self.arm, self.fake, ACTIVITY_TTL)
        url = f"sqlite:///{Path(tmp) / 'verify.db'}"
        upgrade(url)
        self.engine = make_engine(url)
        self.uow = unit_of_work_factory(self.engine)
        self.service = FailoverService(
            uow=self.uow, gateway=InvalidatingGateway(self.arm, cache), clock=self.fake,  # type: ignore[arg-type]
            access=AccessPolicy(require_approval=True), poll_interval=POLL_INTERVAL,
            activity=cache, batch_starts_per_minute=self.rate, verify_rules=VERIFY_RULES,
            hub_metrics=self.arm, timeline=self.sim.timeline)
        self.slack = SlackMeter()
        self.told = outage_verify.VerdictsTold(self.fake)
        # No board keeper: the batch scenario measures the board, which shows no verdicts,
        # and it reads every member each round (~130 ms of CPU at 1,000 hubs).
        self.poller = Poller(self.service, self.uow, RateLimitedNotifier(self.slack, self.fake),
                             self.fake, poll_interval=POLL_INTERVAL, max_workers=WORKERS,
                             batch_size=BATCH_SIZE, after_move=self.told,
                             reads_per_second=outage_verify.BOT_READS_PER_SECOND)
        self.figures = {"scenario": "verify", "hubs": hubs, "failovers_shorter": shorter,
                        "rate_per_minute": self.rate}

    def run(self) -> dict[str, Any]:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.time()
        ids = self._batch()
        approved = self.fake.now()
        self.arm.recording = True
        rounds, done = self._drive(ids, approved)
        self.poller.close()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        with self.uow() as work:
            requests = {i: r for i in ids if (r := work.requests.get(i)) is not None}
            verifications = {i: v for i in ids if (v := work.verifications.get(i)) is not None}
        self.engine.dispose()
        self._verify_figures(requests, verifications, approved)
        self.figures.update(
            finished=done, rounds=rounds,
            clock_s=max(((v.decided_at - approved).total_seconds() for v in
                         verifications.values() if v.decided_at), default=float("nan")),
            cpu_s=cpu1.ru_utime + cpu1.ru_stime, run_cpu_s=(cpu1.ru_utime - cpu0.ru_utime
                                                            + cpu1.ru_stime - cpu0.ru_stime),
            wall_s=time.time() - t0, peak_rss_mib=cpu1.ru_maxrss / 1024)
        return self.figures

    def _drive(self, ids: list[str], approved: datetime) -> tuple[int, bool]:
        """Rounds, the clock on after each, until every verdict is in (and told)."""
        deadline = approved + timedelta(minutes=len(ids) / self.rate, hours=2)
        query = text("SELECT count(*) FROM verification WHERE status IN ('verified', "
                     "'not_recovered', 'unverified', 'skipped') AND announced = 1")
        rounds, shown, self.budget_wait = 0, approved, 0.0
        while self.fake.now() < deadline:
            full = self.poller.run_once().polled >= BATCH_SIZE
            rounds += 1
            self.budget_wait = max(self.budget_wait, self.poller.reads.seconds_until(
                READS_PER_LOOK, self.fake.now()))
            if rounds % 10 == 0:
                with self.engine.connect() as connection:
                    final = int(connection.execute(query).scalar_one())
                if final >= len(ids):
                    progress(f"every verdict in, {self.fake.now() - approved} after the "
                             f"approval on the bench's clock, {rounds} rounds")
                    return rounds, True
                if self.fake.now() - shown >= timedelta(minutes=5):
                    shown = self.fake.now()
                    progress(f"clock +{shown - approved}: {final} verdicts, "
                             f"{len(self.arm.reads)} ARM reads")
            if full:  # more are due now: run_forever goes on at once, so does the clock not
                continue
            # A second on, or to what is due next when that is later (nothing waits longer).
            self.fake.advance(max(VERIFY_STEP, self.poller.next_wait()))
        return rounds, False

    def _verify_figures(self, requests: dict[str, FailoverRequest],
                        verifications: dict[str, Verification], approved: datetime) -> None:
        ops = {op.ref.name: op for op in self.sim._operations.values()}
        partial_hubs = {ref.name for i, ref in enumerate(self.refs) if partial(i)}
        reads = Counter(self.sim.metric_reads)  # before the hubs' minutes are read below
        self.fake.advance(timedelta(hours=3))  # every minute of every move settled
        hubs = []
        for request_id, r in requests.items():
            op = ops.get(r.hub.name)
            if op is None:
                continue
            minutes = self.sim.metric_minutes(r.hub, op.started_at - BASELINE_SPAN,
                                              op.ends_at + timedelta(minutes=30))
            hubs.append(outage_verify.Verified(
                hub=r.hub.name, partial=r.hub.name in partial_hubs, posted=op.started_at,
                azure_end=op.ends_at, bot_end=r.completed_at,
                verification=verifications.get(request_id), metric_reads=reads[r.hub.name],
                data_verdict=outage_verify.data_verdict(minutes, op.started_at, op.ends_at,
                                                        VERIFY_RULES)))
        ok = [r for r in requests.values() if r.status is RequestStatus.SUCCEEDED]
        detection = [(r.completed_at - ops[r.hub.name].ends_at).total_seconds() for r in ok
                     if r.completed_at is not None]
        per_hub = Counter(hub for _, hub in self.arm.posts)
        self.figures.update(
            succeeded=len(ok), statuses=dict(Counter(r.status.value for r in requests.values())),
            posts=len(self.arm.posts), posts_max_per_hub=max(per_hub.values(), default=0),
            detection_p50=_common.median(detection),
            detection_p99=_common.percentile(detection, 99),
            detection_max=max(detection, default=float("nan")),
            last_azure_end_s=max((op.ends_at - approved).total_seconds() for op in ops.values()),
            budget_spent=self.poller.reads.spent, budget_wait_max_s=self.budget_wait,
            metrics_delay_s=VERIFY_RULES.metrics_delay.total_seconds(),
            **outage_verify.verify_figures(hubs, self.arm.reads, self.told.verdicts,
                                           VERIFY_RULES, approved))


def run_scenario(name: str, hubs: int, shorter: float = FAILOVERS_SHORTER,
                 rate: int | None = None) -> int:
    # The verify scenario's store in memory-backed files where there are some: its clock is
    # fake, and a disk's fsync would only stretch the bench's own wall time.
    memory = Path("/dev/shm")
    where = str(memory) if name == "verify" and memory.is_dir() else None
    with tempfile.TemporaryDirectory(prefix=f"bench-outage-{name}-", dir=where) as tmp:
        scenario = (VerifyScenario(hubs, tmp, shorter, rate) if name == "verify"
                    else Scenario(name, hubs, tmp))
        figures = scenario.run()
    print("RESULT " + json.dumps(figures, default=str), flush=True)
    return 0


# ---- the parent: both scenarios, side by side -----------------------------------------------


def spawn(name: str, hubs: int, *options: str) -> dict[str, Any]:
    started = time.time()
    print(f"-- scenario {name}: {hubs} hubs in a child process …", flush=True)
    # Its progress lines (stderr) pass through; its figures come as one JSON line (stdout).
    child = subprocess.run([sys.executable, __file__, "--scenario", name, "--hubs", str(hubs),
                            *options], stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if child.returncode != 0 or not lines:
        raise SystemExit(f"scenario {name} failed (exit {child.returncode})")
    print(f"   done in {time.time() - started:.0f} s", flush=True)
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return figures


def _f(value: float, digits: int = 1) -> str:
    return "–" if value is None or value != value else f"{value:,.{digits}f}"


def report(b: dict[str, Any], s: dict[str, Any]) -> list[list[object]]:
    rate, hubs = b["rate_per_minute"], b["hubs"]
    per_second = math.ceil(rate / 60) + 1
    bar = (POLL_INTERVAL + DETECTION_SLACK).total_seconds()

    def both(key: str, digits: int = 1) -> list[object]:
        return [_f(b[key], digits), _f(s[key], digits)]

    return [
        ["hubs succeeded", f"{b['succeeded']} / {hubs}", f"{s['succeeded']} / {hubs}", "all"],
        ["dialog: read the region s", _f(b["dialog_read_s"]), "–", ""],
        ["submit (re-reads the region) s", _f(b["submit_s"]), "–", ""],
        ["approve (assigns slots) s", _f(b["approve_s"]), "–", ""],
        ["ARM POSTs", b["posts"], s["posts"], f"{hubs} (one per hub)"],
        ["POSTs per hub min / max", f"{b['posts_min_per_hub']} / {b['posts_max_per_hub']}",
         f"{s['posts_min_per_hub']} / {s['posts_max_per_hub']}", "1 / 1"],
        ["POSTs in any 60 s", b["posts_60s"], s["posts_60s"], f"batch <= {rate + 1}"],
        ["POSTs in any 1 s", b["posts_1s"], s["posts_1s"], f"batch <= {per_second}"],
        ["shortest gap between POSTs s", _f(b["posts_min_gap_s"], 3),
         _f(s["posts_min_gap_s"], 3), f"batch's interval {60 / rate:.3f}"],
        ["first to last POST s", *both("posts_span_s"), f"batch ~ {(hubs - 1) / rate * 60:.0f}"],
        ["Slack chat.update total", b["slack_updates"], s["slack_updates"], ""],
        ["  of which board edits", b["board_edits"], "–", ""],
        ["Slack chat.update in any 60 s", b["slack_updates_60s"], s["slack_updates_60s"],
         f"<= {UPDATES_PER_MINUTE}"],
        ["board: shortest gap between edits s", _f(b["board_min_gap_s"]), "–",
         f">= {BOARD_EDIT_INTERVAL:.0f}"],
        ["Slack posts total", b["slack_posts"], s["slack_posts"], ""],
        ["Slack posts per channel in any 1 s", b["slack_posts_per_channel_1s"],
         s["slack_posts_per_channel_1s"], "<= 1"],
        ["messages asked of the limiter (60 s peak)",
         f"{b['slack_asked']} ({b['slack_asked_60s']})",
         f"{s['slack_asked']} ({s['slack_asked_60s']})", "what the requests want sent"],
        ["messages still queued at the end", b["slack_backlog"], s["slack_backlog"], ""],
        ["detection p50 / p99 / max s",
         f"{_f(b['detection_p50'])} / {_f(b['detection_p99'])} / {_f(b['detection_max'])}",
         f"{_f(s['detection_p50'])} / {_f(s['detection_p99'])} / {_f(s['detection_max'])}",
         f"<= {bar:.0f} (poll interval + 2 s)"],
        ["last completion after the start s", *both("last_completion_s", 0), ""],
        ["Azure reads per hub (hub + status)", *both("reads_per_hub", 2), ""],
        ["  of which status polls", *both("polls_per_hub", 2), ""],
        ["Activity Log queries per hub", *both("activity_per_hub", 2), "60 s cache"],
        ["CPU s, whole process (user+sys)", *both("cpu_s"), ""],
        ["wall s of the scenario", *both("wall_s", 0), ""],
        ["peak RSS MiB", *both("peak_rss_mib", 0), ""],
    ]


def check(b: dict[str, Any], s: dict[str, Any]) -> list[str]:
    failures = []
    rate, hubs = b["rate_per_minute"], b["hubs"]
    bar = (POLL_INTERVAL + DETECTION_SLACK).total_seconds()
    for f in (b, s):
        name = f["scenario"]
        if not f["finished"] or f["succeeded"] != hubs:
            failures.append(f"{name}: {f['succeeded']} of {hubs} succeeded ({f['statuses']})")
        if f["detected"] != f["succeeded"] or not f["detection_max"] <= bar:
            failures.append(f"{name}: slowest detection {_f(f['detection_max'])} s > {bar:.0f} s")
        if f["slack_updates_60s"] > UPDATES_PER_MINUTE:
            failures.append(f"{name}: {f['slack_updates_60s']} chat.update in a minute")
        if f["slack_posts_per_channel_1s"] > 1:
            failures.append(f"{name}: {f['slack_posts_per_channel_1s']} posts/s in a channel")
    if not (b["posts"] == hubs and b["posts_min_per_hub"] == b["posts_max_per_hub"] == 1):
        failures.append(f"batch: {b['posts']} POSTs for {hubs} hubs "
                        f"(per hub {b['posts_min_per_hub']}–{b['posts_max_per_hub']})")
    if b["posts_60s"] > rate + 1:
        failures.append(f"batch: {b['posts_60s']} POSTs in 60 s > bucket {rate}/min + 1")
    if b["posts_1s"] > math.ceil(rate / 60) + 1:
        failures.append(f"batch: {b['posts_1s']} POSTs in 1 s > {math.ceil(rate / 60) + 1}")
    if b["board_edits"] and b["board_min_gap_s"] < BOARD_EDIT_INTERVAL - 0.05:
        failures.append(f"batch: board edited {b['board_min_gap_s']:.1f} s apart")
    if b["boards_closed"] != 1:
        failures.append(f"batch: {b['boards_closed']} closing replies (1 expected)")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 hubs instead of 1,000")
    parser.add_argument("--scenario", choices=SCENARIOS, help="run one scenario, print JSON")
    parser.add_argument("--verify-only", action="store_true",
                        help="only the verify scenario, with its table and verdict")
    parser.add_argument("--hubs", type=int, help="how many hubs in the region")
    parser.add_argument("--failovers-shorter", type=float, default=FAILOVERS_SHORTER,
                        help="verify: failovers end this many times sooner than Azure's "
                             f"documented durations ({FAILOVERS_SHORTER:g}; 1: Azure's own)")
    parser.add_argument("--starts-per-minute", type=int,
                        help="verify: the batch's starts a minute (default: as the batch "
                             "scenario, N × 0.6; the bot's own default is 30)")
    args = parser.parse_args()
    hubs = args.hubs or (100 if args.quick else 1_000)
    if args.scenario:
        return run_scenario(args.scenario, hubs, args.failovers_shorter, args.starts_per_minute)
    rate = starts_per_minute(hubs)
    verify_rate = args.starts_per_minute or rate
    failures: list[str] = []
    summary = []
    if not args.verify_only:
        _common.header(f"regional outage: a batch of {hubs} hubs vs {hubs} single requests, "
                       "then the batch verified", args.quick)
        print(f"   batch_starts_per_minute={rate}, poll interval {POLL_INTERVAL.seconds} s, "
              f"failovers {SPEED:.0f}x faster than Azure's durations")
        batch = spawn("batch", hubs)
        singles = spawn("singles", hubs)
        print(_common.table(["figure", "batch", "singles", "bar / note"],
                            report(batch, singles)))
        failures += check(batch, singles)
        summary.append(
            f"batch POSTs {batch['posts_60s']}/60 s (bucket {rate}), singles "
            f"{singles['posts_60s']}/60 s; detection max {_f(batch['detection_max'])} s / "
            f"{_f(singles['detection_max'])} s "
            f"(<= {(POLL_INTERVAL + DETECTION_SLACK).total_seconds():.0f}); chat.update peak "
            f"{batch['slack_updates_60s']} / {singles['slack_updates_60s']} a minute")
    else:
        _common.header(f"regional outage: a batch of {hubs} hubs verified", args.quick)
    print(f"   verify: batch_starts_per_minute={verify_rate}, failovers "
          f"{args.failovers_shorter:g}x "
          f"shorter than Azure's, metrics delay {VERIFY_RULES.metrics_delay}, window "
          f"{VERIFY_RULES.window}, BOT_VERIFY_READS_PER_SECOND "
          f"{outage_verify.BOT_READS_PER_SECOND:g}; a fake clock")
    verify = spawn("verify", hubs, "--failovers-shorter", str(args.failovers_shorter),
                   "--starts-per-minute", str(verify_rate))
    print(_common.table(["figure (verify)", "measured", "bar / note"],
                        outage_verify.report(verify)))
    lines, verify_failures = outage_verify.check(verify)
    print("\n".join(lines))
    failures += verify_failures
    after = verify["verdict_after_azure_s"]
    summary.append(f"{sum(verify['verdicts'].values())} verdicts "
                   f"({', '.join(f'{k} {n}' for k, n in sorted(verify['verdicts'].items()))}), "
                   f"completion → verdict p50 / p99 {_f(after['p50'], 0)} / {_f(after['p99'], 0)}"
                   f" s, {_f(verify['later_than_data_s']['p99'], 0)} s after the data allowed "
                   f"(p99); metric reads per hub {verify['looks_per_hub']['p50']:g} (p50); ARM "
                   f"reads {verify['arm_1s']} in the busiest second")
    return _common.verdict(failures, f"{hubs} hubs: " + "; ".join(summary))

if __name__ == "__main__":
    sys.exit(main())
