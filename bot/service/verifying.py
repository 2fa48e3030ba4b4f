"""After a move: the hour before it (the baseline), the looks at Azure Monitor's minutes, and
the verdict (rules: :mod:`bot.domain.verification`; its record:
:mod:`bot.domain.verification_state`).

A verification never stands in the way of the move: it is created in the same transaction
as the start, read by the poller's looks (two requests each, one per metric) and never by the
start itself. Its baseline is read once the last minute before the POST has settled, while
Azure is moving the hub; when that read fails, the first look after the move reads the hour
before again. Each look is one compare-and-set, so two replicas never both decide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.durations import humanize
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.verification import (
    BASELINE_SPAN,
    MINUTE,
    Baseline,
    MetricMinutes,
    Outcome,
    Verdict,
    VerifyRules,
    floor_minute,
    judge,
    judge_failed_read,
    take_baseline,
    window_minutes,
)
from bot.domain.verification_state import Verification, VerifyStatus
from bot.domain.verification_words import devices_sparkline, verdict_words
from bot.hubs.gateway import CouldNotRead, Forbidden, GatewayError, Throttled, TransientError
from bot.hubs.hub_metrics import HubMetrics
from bot.notifications import VerdictReport
from bot.service.dependencies import ServiceDeps
from bot.store.base import UnitOfWork

log = logging.getLogger(__name__)

READS_PER_LOOK = 2  # one request per metric
SPARK_BEFORE = timedelta(minutes=5)  # of the hour before, shown in the picture
KEPT_BEFORE = timedelta(minutes=10)  # of the hour before, kept once the baseline is taken
BASELINE_RETRY = timedelta(minutes=1)  # a transient failure to read it, while Azure moves


@dataclass(frozen=True)
class Looked:
    verification: Verification
    reads: int  # requests this look sent to Azure Monitor
    decided: bool  # this look reached the verdict


class Verifying:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps

    @property
    def on(self) -> bool:
        return self.deps.verify_rules is not None and self.deps.hub_metrics is not None

    # ---- in the move's own transactions --------------------------------------------------

    def begin(self, uow: UnitOfWork, request: FailoverRequest, posted_at: datetime) -> None:
        """In the start's transaction: the verification, its baseline read once the last
        minute before the POST has settled."""
        rules = self.deps.verify_rules
        if rules is None or not self.on:
            return
        line = self.deps.timeline
        settles = floor_minute(line.azure(posted_at)) + rules.metrics_delay
        uow.verifications.add(Verification(
            request.id, request.hub, request.kind, posted_at, batch_id=request.batch_id,
            next_look_at=max(posted_at, line.real(settles))))

    def after_end(self, uow: UnitOfWork, request: FailoverRequest) -> None:
        """In the end's transaction: watch a hub that moved; nothing to verify otherwise."""
        rules = self.deps.verify_rules
        if rules is None or not self.on:
            return
        for _ in range(3):  # a look at the baseline may save in between: read it again
            found = uow.verifications.get(request.id)
            if request.status is not RequestStatus.SUCCEEDED:
                if found is None or found.status.final or uow.verifications.save(
                        found.skipped(), found.version):
                    return
                continue
            if found is not None and found.status is not VerifyStatus.WAITING:
                return
            completed = request.completed_at or self.deps.clock.now()
            if found is None:  # started before verification was on (or by an older version)
                found = Verification(request.id, request.hub, request.kind,
                                     request.started_at or completed, batch_id=request.batch_id)
                uow.verifications.add(found)
            watching = found.completed(completed, self._first_look(completed, rules))
            if uow.verifications.save(watching, found.version):
                return
        log.warning("verification of %s: could not record the end of the move", request.id)

    def _first_look(self, completed: datetime, rules: VerifyRules) -> datetime:
        """When two whole minutes after the completion have settled: the earliest verdict."""
        line = self.deps.timeline
        first = window_minutes(line.azure(completed), rules)[0]
        return line.real(first + 2 * MINUTE + rules.metrics_delay)

    # ---- the poller's looks ---------------------------------------------------------------

    def look(self, verification: Verification) -> Looked:
        """One look at Azure Monitor (a pool thread), saved with a compare-and-set."""
        rules, metrics = self.deps.verify_rules, self.deps.hub_metrics
        if rules is None or metrics is None or verification.status.final:
            return Looked(verification, 0, False)
        if verification.status is VerifyStatus.WAITING:
            return self._read_baseline(verification, rules, metrics)
        return self._watch(verification, rules, metrics)

    def _read_baseline(self, v: Verification, rules: VerifyRules,
                       metrics: HubMetrics) -> Looked:
        now = self.deps.clock.now()
        line = self.deps.timeline
        posted = line.azure(v.posted_at)
        baseline: Baseline | None = v.baseline
        minutes = v.minutes
        next_look: datetime | None = None
        try:
            read = metrics.metric_minutes(v.hub, posted - BASELINE_SPAN, floor_minute(posted))
        except (Throttled, TransientError) as exc:
            wait = timedelta(seconds=exc.retry_after or 0)
            next_look = now + max(BASELINE_RETRY, wait)
        except GatewayError as exc:
            baseline = Baseline.unreadable(_azure_words(exc))
        else:
            minutes = _trimmed(minutes.merged(read), posted)
            baseline = take_baseline(read, posted_at=posted, read_at=line.azure(now), rules=rules)
        watching = Verdict(Outcome.WATCHING)
        changed = v.looked(watching, now=now, minutes=minutes, baseline=baseline,
                           reads=READS_PER_LOOK, next_look_at=next_look)
        return self._save(v, changed, READS_PER_LOOK)

    def _watch(self, v: Verification, rules: VerifyRules, metrics: HubMetrics) -> Looked:
        now = self.deps.clock.now()
        line = self.deps.timeline
        az_now, posted = line.azure(now), line.azure(v.posted_at)
        completed = line.azure(v.completed_at or now)
        baseline, minutes, reads = v.baseline, v.minutes, 0
        if baseline is not None and baseline.problem is not None:
            verdict = judge(baseline, minutes, completed_at=completed, now=az_now, rules=rules)
        else:
            if baseline is None:
                start = posted - BASELINE_SPAN
            elif any(p.start >= floor_minute(posted) for p in minutes.devices):
                start = floor_minute(completed)
            else:
                start = floor_minute(posted)  # the move itself, for the picture
            reads = READS_PER_LOOK
            try:
                read = metrics.metric_minutes(v.hub, start, az_now)
            except GatewayError as exc:
                lasting = not isinstance(exc, Throttled | TransientError)
                retry = timedelta(seconds=exc.retry_after) if exc.retry_after else None
                verdict = judge_failed_read(_azure_words(exc), lasting=lasting,
                                            completed_at=completed, now=az_now, rules=rules,
                                            retry_after=retry)
            else:
                if baseline is None:
                    baseline = take_baseline(read, posted_at=posted, read_at=az_now,
                                             rules=rules)
                minutes = _trimmed(minutes.merged(read), posted)
                verdict = judge(baseline, minutes, completed_at=completed, now=az_now,
                                rules=rules)
        look = line.real(verdict.look_again_at) if verdict.look_again_at else None
        changed = v.looked(verdict, now=now, minutes=minutes, baseline=baseline, reads=reads,
                           next_look_at=look)
        return self._save(v, changed, reads)

    def _save(self, before: Verification, changed: Verification, reads: int) -> Looked:
        decided = changed.status.verdict and not before.status.final
        with self.deps.uow() as uow:
            if not uow.verifications.save(changed, before.version):
                return Looked(before, reads, False)  # the move ended meanwhile: look again
            if decided:
                uow.events.append(changed.audit_event(self._audited(changed)))
            uow.commit()
        if decided:
            self._count(changed)
        return Looked(changed, reads, decided)

    # ---- telling people -----------------------------------------------------------------

    def report(self, v: Verification) -> VerdictReport | None:
        """What the request's thread is told (None: nothing to tell there)."""
        rules = self.deps.verify_rules or VerifyRules()
        with self.deps.uow() as uow:
            request = uow.requests.get(v.request_id)
        if request is None:
            return None
        return VerdictReport(request, v, self.words(v, rules), self.picture(v, rules))

    def told(self, v: Verification) -> None:
        with self.deps.uow() as uow:
            current = uow.verifications.get(v.request_id)
            if current is not None and not current.announced:
                uow.verifications.save(current.told(), current.version)
                uow.commit()

    def words(self, v: Verification, rules: VerifyRules | None = None) -> str:
        rules = rules or self.deps.verify_rules or VerifyRules()
        if v.status is VerifyStatus.WAITING:
            return "Verification starts when Azure reports the move done."
        if v.status is VerifyStatus.SKIPPED:
            return "Nothing to verify: the hub did not move."
        return verdict_words(v.verdict, v.kind, rules)

    def picture(self, v: Verification, rules: VerifyRules | None = None) -> str:
        """Connected devices a minute a character, from a little before the POST."""
        rules = rules or self.deps.verify_rules or VerifyRules()
        line = self.deps.timeline
        start = floor_minute(line.azure(v.posted_at) - SPARK_BEFORE)
        end = (v.figures.minute + MINUTE if v.figures is not None
               else floor_minute(line.azure(v.decided_at or self.deps.clock.now())))
        baseline = v.baseline.devices if v.baseline is not None else None
        return devices_sparkline(v.minutes, start=start, end=end,
                                 now=line.azure(v.decided_at or self.deps.clock.now()),
                                 rules=rules, baseline=baseline)

    def _audited(self, v: Verification) -> dict[str, object]:
        detail: dict[str, object] = {"said": self.words(v), "reads": v.reads}
        figures = v.figures
        if figures is not None:
            detail.update(devices=figures.devices, baseline_devices=figures.baseline_devices,
                          devices_pct=round(float(figures.devices_pct), 2),
                          telemetry=figures.telemetry,
                          baseline_telemetry=figures.baseline_telemetry,
                          minutes_after=figures.minutes_after,
                          minute=figures.minute.isoformat())
            if figures.telemetry_pct is not None:
                detail["telemetry_pct"] = round(float(figures.telemetry_pct), 2)
        if v.reason:
            detail["reason"] = v.reason
        return detail

    def _count(self, v: Verification) -> None:
        metrics = self.deps.metrics
        if metrics is None:
            return
        seconds = None
        if v.status is VerifyStatus.VERIFIED and v.figures and v.completed_at:
            done = self.deps.timeline.azure(v.completed_at)
            seconds = (v.figures.minute + MINUTE - done).total_seconds()
        metrics.verdict(v.status.value, v.kind.value, seconds)
        log.info("verification of %s: %s after %s", v.request_id, v.status.value,
                 humanize(self.deps.clock.now() - (v.completed_at or v.posted_at)))


def _trimmed(minutes: MetricMinutes, posted: datetime) -> MetricMinutes:
    """Once the baseline is taken, only the minutes the picture shows before the POST."""
    keep = floor_minute(posted) - KEPT_BEFORE
    return MetricMinutes(tuple(p for p in minutes.devices if p.start >= keep),
                         tuple(p for p in minutes.telemetry if p.start >= keep))


def _azure_words(exc: GatewayError) -> str:
    if isinstance(exc, CouldNotRead):
        return exc.reason
    code = f" ({exc.code})" if exc.code else ""
    permission = (f"; it needs {exc.permission}"
                  if isinstance(exc, Forbidden) and exc.permission else "")
    return f"{exc.message.rstrip('.')}{code}{permission}"
