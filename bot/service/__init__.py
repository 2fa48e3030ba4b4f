"""The use cases, grouped by reason to change; entry points call them with plain values.

Slack payloads never arrive here, SQL stays in the store and the Azure SDK in the gateway.
Every refusal is returned as a value and written to the audit log.

==================  =======================================================================
``asking``          preview, submit
``deciding``        approve, reject, cancel, expire
``starting``        start (the one POST), its postponement, the handle
``observing``       observe a running operation, record its end, the completion report
``reading``         status, hub list, audit, one request
``regional``        a region's hubs for a batch, and its submission
``batch_deciding``  approve (paced), reject, expire, stop the rest, retry failed
``boards``          a batch's board, recent batches, the fleet (Home tab)
``notices``         where and up to which version a request was announced; milestones
``verifying``       after a move: the baseline, the looks at Azure Monitor, the verdict
``consumer_restarting``  after a move: the approved consumers, restarted once each
``drill_asking``    a drill: which hubs, when, the dialog's preview, the submission
``drilling``        a drill's life: its legs, the cool-down, Stop drill, the report
``drill_reading``   drills read: history with recovery times, next drills, each hub's last
``hubs``            live hub state, quota, cool-down, estimates (shared)
``refusals``        audit and count refusals and outcomes (shared)
==================  =======================================================================

:class:`FailoverService` is the composition: one :class:`ServiceDeps` (the ports and settings,
shared and read at each use) and one instance of each use case over it; callers call the use case
(``service.deciding.approve(…)``, ``service.starting.start(…)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.request import SYSTEM
from bot.service.asking import (
    AUTO_APPROVER,
    Asking,
    FieldErrors,
    Preview,
    SubmitFailover,
    Submitted,
)
from bot.service.batch_deciding import BatchDeciding, BatchDecision
from bot.service.boards import Board, BoardCheck, BoardLine, Boards, CheckTotals, Fleet
from bot.service.consumer_restarting import ConsumerRestarting
from bot.service.deciding import Deciding, Decision
from bot.service.dependencies import LeaseKeeper, ServiceDeps
from bot.service.drill_asking import DrillAsking
from bot.service.drill_reading import DrillReading
from bot.service.drilling import Drilling
from bot.service.hubs import Hubs
from bot.service.notices import Notices
from bot.service.observing import NOT_STARTED_AFTER, NOT_STARTED_POLLS, Observation, Observing
from bot.service.reading import HubPage, HubStatus, Reading
from bot.service.refusals import Refusals
from bot.service.regional import (
    BatchFieldErrors,
    BatchSubmitted,
    RegionalAsking,
    RegionPreview,
    SubmitBatch,
)
from bot.service.starting import OUTCOME_UNKNOWN, ProcessMemory, Starting
from bot.service.verifying import Looked, Verifying

__all__ = [
    "AUTO_APPROVER",
    "NOT_STARTED_AFTER",
    "NOT_STARTED_POLLS",
    "OUTCOME_UNKNOWN",
    "SYSTEM",
    "BatchDecision",
    "BatchFieldErrors",
    "BatchSubmitted",
    "Board",
    "BoardCheck",
    "BoardLine",
    "CheckTotals",
    "Decision",
    "FailoverService",
    "FieldErrors",
    "Fleet",
    "HubPage",
    "HubStatus",
    "LeaseKeeper",
    "Looked",
    "Observation",
    "Preview",
    "RegionPreview",
    "ServiceDeps",
    "SubmitBatch",
    "SubmitFailover",
    "Submitted",
]


@dataclass
class FailoverService(ServiceDeps):
    """The use cases of one process over one set of dependencies."""

    def __post_init__(self) -> None:
        self.refusals = Refusals(self)
        self.hubs = Hubs(self)
        self.asking = Asking(self, self.hubs, self.refusals)
        self.deciding = Deciding(self, self.hubs, self.refusals)
        self.verifying = Verifying(self)
        self.consumer_restarting = ConsumerRestarting(self)
        self.starting = Starting(self, self.refusals, ProcessMemory(), self.verifying)
        self.observing = Observing(self, self.hubs, self.refusals, self.starting,
                                   self.consumer_restarting)
        self.reading = Reading(self, self.hubs, self.refusals, self.verifying)
        self.notices = Notices(self)
        self.batch_deciding = BatchDeciding(self, self.hubs, self.refusals)
        self.regional = RegionalAsking(self, self.hubs, self.refusals,
                                       self.batch_deciding.approve_at_once)
        self.boards = Boards(self, self.hubs)
        self.drill_asking = DrillAsking(self, self.hubs, self.refusals, self.asking)
        self.drilling = Drilling(self, self.hubs)
        self.drill_reading = DrillReading(self)
