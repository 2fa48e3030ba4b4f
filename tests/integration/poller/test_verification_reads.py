"""Verification's looks share ARM's read budget and the poller's rounds: forty hubs that end
at once are verified without a read storm, each verdict told once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bot.domain.model import HubRef
from bot.domain.verification import MetricMinutes, VerifyRules
from bot.domain.verification_state import VerifyStatus
from bot.notifications import VerdictReport
from bot.poller import Poller

from .conftest import LEASE_TTL, POLL_INTERVAL, Bench

READS_PER_SECOND = 2.0  # burst: five seconds' worth (bot.poller.poller)


class Verdicts:
    def __init__(self) -> None:
        self.told: list[VerdictReport] = []

    def verdict(self, report: VerdictReport) -> None:
        self.told.append(report)

    def consumer_acted(self, request: object, action: object) -> None:
        raise AssertionError("no hub here declares consumers")


def _verifying_poller(bench: Bench, told: Verdicts, **options: float) -> Poller:
    """The bench's service verifying every move from the fleet's metrics, and its poller."""
    service = bench.service
    service.verify_rules = VerifyRules()
    service.hub_metrics = bench.gateway
    service.timeline = bench.gateway.timeline
    return Poller(service, bench.uow, bench.slack, bench.clock, owner_id="a",
                  poll_interval=POLL_INTERVAL, lease_ttl=LEASE_TTL, max_workers=4,
                  after_move=told, **options)  # type: ignore[arg-type]


def test_forty_hubs_ending_at_once_are_verified_within_the_read_budget(bench: Bench) -> None:
    reads: list[datetime] = []
    lock = threading.Lock()
    fleet_read = bench.gateway.metric_minutes

    def counted(ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        with lock:
            reads.append(bench.clock.now())
        return fleet_read(ref, start, end)

    bench.gateway.metric_minutes = counted  # type: ignore[method-assign]
    service, told = bench.service, Verdicts()
    poller = _verifying_poller(bench, told, reads_per_second=READS_PER_SECOND)
    ids = [bench.start(bench.hub(f"hub-{i:02d}", devices=1_000)) for i in range(40)]

    bench.run([poller], until=lambda: len(told.told) == 40, max_rounds=5_000)

    verifications = [service.reading.verification(i) for i in ids]
    assert all(v is not None and v.status is VerifyStatus.VERIFIED for v in verifications)
    assert sorted(r.request.id for r in told.told) == sorted(ids)  # each told once
    # Two reads a look: at most the burst, then the rate, whatever the window.
    burst = READS_PER_SECOND * 5
    for start in reads:
        window = [at for at in reads if start <= at < start + timedelta(seconds=10)]
        assert len(window) <= burst + READS_PER_SECOND * 10
    per_hub = [v.reads for v in verifications if v is not None]
    assert max(per_hub) <= 12  # the baseline and a few looks: no hub polled for ever


def test_a_verdict_waits_for_its_completion_reply(bench: Bench) -> None:
    """Slack is down when the move ends: the verdict is not told before the completion."""
    service, told = bench.service, Verdicts()
    poller = _verifying_poller(bench, told)
    request_id = bench.start(bench.hub("hub-slow-slack", devices=1_000))
    bench.slack.down = True

    def decided() -> bool:
        verification = service.reading.verification(request_id)
        return verification is not None and verification.status is VerifyStatus.VERIFIED

    bench.run([poller], until=decided, max_rounds=5_000)
    for _ in range(30):  # Slack still down: rounds go on, the verdict waits
        poller.run_once()
        bench.clock.advance(timedelta(seconds=1))
    assert told.told == [] and bench.slack.of("completed") == []

    bench.slack.down = False
    bench.run([poller], until=lambda: bool(told.told), max_rounds=600)
    completed = bench.slack.of("completed", request_id)
    assert len(completed) == 1 and len(told.told) == 1
