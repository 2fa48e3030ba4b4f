"""The regional outage's verification figures (a helper of ``regional_outage.py``).

What the ``verify`` scenario needs besides the batch's own machinery: the fleet as the bot
sees it with every ARM read noted on the scenario's clock, a notifier noting the verdicts
told in threads, the earliest verdict each hub's data allowed, and the figures drawn from
them — reads per hub, the time from each hub's completion to its verdict, and the ARM read
rate against ARM's token bucket and the bot's own budget.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import _common

from bot.domain.clock import Clock
from bot.domain.consumer_action import ConsumerAction
from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, HubState
from bot.domain.request import FailoverRequest
from bot.domain.verification import (
    BASELINE_SPAN,
    MINUTE,
    MetricMinutes,
    VerifyRules,
    ceil_minute,
    judge,
    take_baseline,
)
from bot.domain.verification_state import Verification
from bot.hubs.gateway import OperationPoll
from bot.notifications import VerdictReport
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

# ARM's read limits per subscription and identity (a token bucket), and the bot's own
# (BOT_VERIFY_READS_PER_SECOND; the poller's ReadBudget holds five seconds of it).
ARM_READS_PER_SECOND, ARM_BURST = 25.0, 250.0
BOT_READS_PER_SECOND = 10.0
BOT_BURST = BOT_READS_PER_SECOND * 5
REQUESTS_PER_READ = 2  # Azure Monitor: one request per metric (bot.hubs.azure_metrics)


class ArmReads:
    """The simulated fleet as the bot sees it (IoT Hub gateway and Azure Monitor), noting
    each ARM request the real gateway would send, on the scenario's clock, once
    ``recording`` (from the approval on: the dialog's region reads are the batch's figures).
    Each failover Azure runs ends ``shorter`` times sooner than the fleet's documented
    duration (1,000 hubs at Azure's own 8–33 min are polled ~28,000 times)."""

    def __init__(self, sim: SimulatedIotHubGateway, clock: Clock, shorter: float = 1.0) -> None:
        self.sim, self.clock, self.shorter = sim, clock, shorter
        self.recording = False
        self._lock = threading.Lock()
        self.reads: list[tuple[float, str]] = []  # (epoch s on the clock, what)
        self.posts: list[tuple[float, str]] = []  # (epoch s, hub)

    def _note(self, what: str, count: int = 1) -> None:
        if self.recording:
            at = self.clock.now().timestamp()
            with self._lock:
                self.reads.extend([(at, what)] * count)

    def list_hubs(self) -> list[HubState]:
        self._note("list")
        return self.sim.list_hubs()

    def resolve(self, name: str) -> HubRef:
        return self.sim.resolve(name)  # cached by the real gateway: no Azure call

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        self._note("hub", 2 if with_device_count else 1)  # the hub, and its stats
        return self.sim.get_state(ref, with_device_count=with_device_count)

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        with self._lock:
            self.posts.append((self.clock.now().timestamp(), ref.name))
        handle = self.sim.start_failover(ref, target_region)
        if self.shorter != 1:
            with self.sim._lock:
                op = self.sim._operations[handle.removeprefix("sim:")]
                op.ends_at = op.started_at + (op.ends_at - op.started_at) / self.shorter
        return handle

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        self._note("poll")
        return self.sim.poll(ref, handle)

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        self._note("activity")
        return self.sim.failover_operations(ref, since)

    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        self._note("metrics", REQUESTS_PER_READ)
        return self.sim.metric_minutes(ref, start, end)


class VerdictsTold:
    """The poller's AfterMoveNotifier: when each verdict was told in a request's thread."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.verdicts: dict[str, tuple[datetime, str]] = {}  # request id -> (when, status)
        self.consumers = 0

    def verdict(self, report: VerdictReport) -> None:
        self.verdicts[report.request.id] = (self.clock.now(), report.verification.status.value)

    def consumer_acted(self, request: FailoverRequest, action: ConsumerAction) -> None:
        self.consumers += 1


@dataclass(frozen=True)
class Verified:
    """One hub's move and verdict, for the figures."""

    hub: str
    partial: bool  # the fleet reconnects only part of its devices
    posted: datetime  # Azure's start of the operation
    azure_end: datetime  # the simulator's ends_at: Azure's completion
    bot_end: datetime | None  # the request's completed_at: when the bot saw it
    verification: Verification | None
    metric_reads: int  # the fleet's count of metric reads (each two ARM requests)
    data_verdict: tuple[datetime, str]  # the earliest verdict the data allowed, and which


def data_verdict(minutes: MetricMinutes, posted: datetime, completed: datetime,
                 rules: VerifyRules) -> tuple[datetime, str]:
    """The verdict a bot with no read budget would reach, looking as each minute settles,
    knowing Azure's completion at once: the earliest the hub's own minutes allowed.
    ``minutes``: all of them, from the hour before the POST on, read once all had settled."""
    baseline = take_baseline(minutes, posted_at=posted, read_at=completed + 2 * BASELINE_SPAN,
                             rules=rules)
    first = ceil_minute(completed)
    for k in range(int(rules.window / MINUTE) + 3):
        now = first + k * MINUTE + MINUTE + rules.metrics_delay  # the k-th minute settles
        verdict = judge(baseline, minutes, completed_at=completed, now=now, rules=rules)
        if verdict.final:
            return now, verdict.outcome.value
    raise ValueError("no verdict after the window and its confirming minute")


def most_in_window(times: Sequence[float], window: float) -> int:
    ordered, most, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def refused_by_bucket(times: Sequence[float], per_second: float, burst: float) -> int:
    """How many of the requests a token bucket (full at the first) would have refused."""
    tokens, last, refused = burst, None, 0
    for at in sorted(times):
        if last is not None:
            tokens = min(burst, tokens + (at - last) * per_second)
        last = at
        if tokens >= 1:
            tokens -= 1
        else:
            refused += 1
    return refused


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"min": min(values, default=float("nan")), "p50": _common.median(values),
            "p99": _common.percentile(values, 99), "max": max(values, default=float("nan"))}


def verify_figures(hubs: Sequence[Verified], reads: Sequence[tuple[float, str]],
                   told: Mapping[str, tuple[datetime, str]], rules: VerifyRules,
                   since: datetime) -> dict[str, Any]:
    """The verification figures of one run (part of the ``verify`` scenario's JSON)."""
    def expected(h: Verified) -> str:
        return "not_recovered" if h.partial else "verified"

    def status(h: Verified) -> str:
        return h.verification.status.value if h.verification else "none"

    # Verified hubs' times apart: a hub that does not recover is judged when the window ends.
    after_azure, after_bot, earliest, allowed, not_recovered, late = [], [], [], [], [], []
    for h in hubs:
        v = h.verification
        if v is None or v.decided_at is None:
            continue
        late.append((v.decided_at - h.data_verdict[0]).total_seconds())
        if status(h) != "verified":
            not_recovered.append((v.decided_at - h.azure_end).total_seconds())
            continue
        after_azure.append((v.decided_at - h.azure_end).total_seconds())
        soonest = ceil_minute(h.azure_end) + 2 * MINUTE + rules.metrics_delay
        earliest.append((soonest - h.azure_end).total_seconds())
        allowed.append((h.data_verdict[0] - h.azure_end).total_seconds())
        if h.bot_end is not None:
            after_bot.append((v.decided_at - h.bot_end).total_seconds())
    all_times = [at for at, _ in reads]
    metric_times = [at for at, what in reads if what == "metrics"]
    span = (max(all_times) - since.timestamp()) if all_times else float("nan")
    return {
        "verdicts": dict(Counter(status(h) for h in hubs)),
        "verdicts_expected": dict(Counter(expected(h) for h in hubs)),
        "verdicts_wrong": [h.hub for h in hubs if status(h) != expected(h)][:10],
        "verdicts_wrong_count": sum(1 for h in hubs if status(h) != expected(h)),
        "data_disagrees": sum(1 for h in hubs if h.data_verdict[1] != status(h)),
        "told_in_threads": len(told),
        "looks_per_hub": spread([h.metric_reads for h in hubs]),
        "metric_requests_per_hub": spread([REQUESTS_PER_READ * h.metric_reads for h in hubs]),
        "verification_reads_per_hub": spread([h.verification.reads for h in hubs
                                              if h.verification]),
        "reads_counted_apart": sum(1 for h in hubs if h.verification and h.verification.reads
                                   != REQUESTS_PER_READ * h.metric_reads),
        "verdict_after_azure_s": spread(after_azure), "verdict_after_bot_s": spread(after_bot),
        "earliest_after_azure_s": spread(earliest), "data_after_azure_s": spread(allowed),
        "not_recovered_after_azure_s": spread(not_recovered), "later_than_data_s": spread(late),
        "arm_reads": len(all_times), "arm_reads_by_kind": dict(Counter(w for _, w in reads)),
        "arm_span_s": span, "arm_mean_per_s": len(all_times) / span if span else float("nan"),
        "arm_1s": most_in_window(all_times, 1.0), "arm_10s": most_in_window(all_times, 10.0),
        "arm_refused": refused_by_bucket(all_times, ARM_READS_PER_SECOND, ARM_BURST),
        "metric_1s": most_in_window(metric_times, 1.0),
        "metric_10s": most_in_window(metric_times, 10.0),
        "metric_refused_bot": refused_by_bucket(metric_times, BOT_READS_PER_SECOND, BOT_BURST),
        "metric_refused_arm": refused_by_bucket(metric_times, ARM_READS_PER_SECOND, ARM_BURST),
    }


# ---- the parent's table and bars ------------------------------------------------------------


def _f(value: float | None, digits: int = 0) -> str:
    return "–" if value is None or value != value else f"{value:,.{digits}f}"


def _spread(s: Mapping[str, float], digits: int = 0, keys: str = "p50 p99 max") -> str:
    return " / ".join(_f(s[k], digits) for k in keys.split())


def report(v: Mapping[str, Any]) -> list[list[object]]:
    hubs, delay = v["hubs"], v["metrics_delay_s"]
    kinds = v["arm_reads_by_kind"]
    return [
        ["hubs moved; verdicts in", f"{v['succeeded']} / {hubs}; {sum(v['verdicts'].values())}",
         "all"],
        ["verdicts", ", ".join(f"{k} {n}" for k, n in sorted(v["verdicts"].items())),
         ", ".join(f"{k} {n}" for k, n in sorted(v["verdicts_expected"].items()))],
        ["  the data's own verdict differs", v["data_disagrees"], "0"],
        ["  told in a request's thread", v["told_in_threads"],
         "batch hubs: on the board (not kept here)"],
        ["metric reads per hub min / p50 / max", _spread(v["looks_per_hub"], 0, "min p50 max"),
         "fleet.metric_reads"],
        ["  ARM requests per hub (2 a read)",
         _spread(v["metric_requests_per_hub"], 0, "min p50 max"), ""],
        ["  verification.reads min / p50 / max",
         _spread(v["verification_reads_per_hub"], 0, "min p50 max"),
         f"{v['reads_counted_apart']} hubs differ from the fleet's count"],
        ["verified: Azure's completion → verdict s", _spread(v["verdict_after_azure_s"]),
         "p50 / p99 / max, Azure's timeline"],
        ["  the bot's completion → verdict s", _spread(v["verdict_after_bot_s"]),
         "bot's clock, from completed_at"],
        ["  earliest possible verdict s", _spread(v["earliest_after_azure_s"]),
         f"2 whole min + {delay / 60:g} min delay"],
        ["  the data's own verdict s", _spread(v["data_after_azure_s"]),
         "a look as each minute settles"],
        ["not recovered: Azure's completion → verdict s",
         _spread(v["not_recovered_after_azure_s"]), "the window, then its minute"],
        ["every hub: verdict later than the data's s", _spread(v["later_than_data_s"]),
         "detection + budget + rounds"],
        ["longest a look waited for the read budget s", _f(v["budget_wait_max_s"], 1), ""],
        ["detection p50 / p99 / max s",
         f"{_f(v['detection_p50'], 1)} / {_f(v['detection_p99'], 1)} / "
         f"{_f(v['detection_max'], 1)}", "<= 32"],
        ["ARM reads after the approval",
         f"{v['arm_reads']:,} (" + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items()))
         + ")", "hub: 1 before a start, 2 at an end"],
        ["ARM reads a second, mean over the run", _f(v["arm_mean_per_s"], 1),
         f"over {_f(v['arm_span_s'])} s"],
        ["ARM reads in any 1 s / 10 s", f"{v['arm_1s']} / {v['arm_10s']}",
         f"ARM: {ARM_READS_PER_SECOND:.0f}/s, burst {ARM_BURST:.0f}"],
        ["  refused by ARM's bucket (250, 25/s)", v["arm_refused"], "0"],
        ["metric requests in any 1 s / 10 s", f"{v['metric_1s']} / {v['metric_10s']}",
         f"bot: {BOT_READS_PER_SECOND:.0f}/s, burst {BOT_BURST:.0f}"],
        ["  refused by the bot's bucket / ARM's", f"{v['metric_refused_bot']} / "
         f"{v['metric_refused_arm']}", "0 / 0"],
        ["clock: approval → last verdict s; rounds", f"{_f(v['clock_s'])}; {v['rounds']}", ""],
        ["CPU s (whole process) / wall s; peak RSS MiB",
         f"{_f(v['cpu_s'], 1)} / {_f(v['wall_s'])}; {_f(v['peak_rss_mib'])}", ""],
    ]


def check(v: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The verify scenario's bars: (lines to print, failures)."""
    hubs = v["hubs"]
    bars = [
        (v["finished"] and v["succeeded"] == hubs and not v["verdicts_wrong_count"],
         f"every hub moved and judged as its devices came back ({v['verdicts']})"),
        (not v["metric_refused_bot"],
         f"verification's reads within the bot's {BOT_READS_PER_SECOND:.0f}/s (burst "
         f"{BOT_BURST:.0f}): {v['metric_1s']} in the busiest second, {v['metric_10s']} in 10 s"),
        (not v["metric_refused_arm"],
         f"verification's reads within ARM's {ARM_READS_PER_SECOND:.0f}/s (burst "
         f"{ARM_BURST:.0f}): {v['metric_refused_arm']} refused"),
        (not v["arm_refused"],
         f"all ARM reads (starts, polls, looks) within ARM's {ARM_READS_PER_SECOND:.0f}/s "
         f"(burst {ARM_BURST:.0f}): {v['arm_refused']:,} of {v['arm_reads']:,} would be "
         f"refused; {v['arm_1s']} in the busiest second, {v['arm_10s']} in 10 s"),
    ]
    lines = [f"{'PASS' if ok else 'FAIL'} verify: {what}" for ok, what in bars]
    return lines, [f"verify: {what}" for ok, what in bars if not ok]
