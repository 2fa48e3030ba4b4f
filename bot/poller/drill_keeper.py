"""Drills on the poller's rounds: each step of a drill under way (one replica at a time, a
lease) and the schedules that come due (one replica asks for each scheduled drill: the one
whose compare-and-set moves the schedule on). Steps only touch the database; a scheduled
drill reads the hub from Azure, as a person's ``/iothub drill`` would."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.drill import DrillAsk
from bot.domain.drill_schedule import DrillSchedule
from bot.domain.model import OperationKind
from bot.domain.policy import Actor
from bot.domain.request import FailoverRequest
from bot.domain.rules import Refusal
from bot.notifications import DrillNotifier
from bot.service import FailoverService, SubmitFailover, Submitted
from bot.store.base import UnitOfWorkFactory

log = logging.getLogger(__name__)

STEP_LEASE = timedelta(seconds=60)
SCHEDULES_EVERY = timedelta(seconds=30)


class DrillKeeper:
    def __init__(self, service: FailoverService, uow_factory: UnitOfWorkFactory,
                 notifier: DrillNotifier | None, clock: Clock, owner_id: str, *,
                 announce: Callable[[FailoverRequest], None] | None = None,
                 limit: int = 20) -> None:
        self._service, self._uow, self._notifier = service, uow_factory, notifier
        self._announce = announce  # the approval message of a drill a schedule asked for
        self._clock, self._owner, self._limit = clock, owner_id, limit
        self._last_schedules: datetime | None = None

    def keep(self) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            due = uow.drills.claim_due(self._owner, now, STEP_LEASE, self._limit)
            uow.commit()
        for drill in due:
            try:
                step = self._service.drilling.advance(drill)
                if step.said and step.request is not None and self._notifier is not None:
                    self._notifier.drill_said(step.request, step.drill, step.said)
                if step.said:  # told (or nobody to tell): not again
                    self._service.drilling.told(step.drill)
            except Exception:
                log.exception("drill %s: a step failed; it is tried again", drill.id)
            finally:
                with self._uow() as uow:
                    uow.drills.release(drill.id, self._owner)
                    uow.commit()
        if self._last_schedules is None or now - self._last_schedules >= SCHEDULES_EVERY:
            self._last_schedules = now
            self._ask_scheduled(now)

    def _ask_scheduled(self, now: datetime) -> None:
        with self._uow() as uow:
            due = uow.drills.due_schedules(now, self._limit)
        for schedule in due:
            if schedule.next_at is None:
                continue
            with self._uow() as uow:  # whoever moves it on asks for the drill
                moved = uow.drills.move_schedule(schedule.after(now, None), schedule.next_at)
                uow.commit()
            if moved:
                self._ask(schedule)

    def _ask(self, schedule: DrillSchedule) -> None:
        days = schedule.every.days if schedule.every else 0
        every = "every day, " if days == 1 else f"every {days} days, " if days else ""
        # No mention: a reason is shown inert (escaped), and the approval message's
        # "Requested by" names the schedule's creator.
        reason = (f"Scheduled drill ({every}on the schedule the requester set up): "
                  f"{schedule.reason}")
        result = self._service.drill_asking.submit(
            SubmitFailover(actor=Actor(schedule.created_by), channel_id=schedule.channel_id,
                           hub_name=schedule.hub, kind=OperationKind.FAILOVER,
                           typed_name=schedule.hub, reason=reason,
                           expected_active_region=self._active(schedule)),
            DrillAsk(scheduled_by=schedule.created_by, schedule_id=schedule.id))
        if isinstance(result, Refusal):
            log.info("scheduled drill of %s refused: %s", schedule.hub, result.reason.value)
            if self._notifier is not None:
                self._notifier.drill_refused(schedule.channel_id,
                                             f"The drill of `{schedule.hub}` scheduled by "
                                             f"<@{schedule.created_by}> did not start: "
                                             f"{result.message}")
            return
        # Announced by the replica that asked, as the dialog's listener does: left to the
        # sweep, it came a minute late and once from each replica's sweep.
        if isinstance(result, Submitted) and self._announce is not None:
            self._announce(result.request)

    def _active(self, schedule: DrillSchedule) -> str:
        hub = self._service.hubs.live_hub(schedule.hub, with_device_count=False)
        return hub.active_region if not isinstance(hub, Refusal) else ""
