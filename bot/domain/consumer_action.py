"""Acting on one consumer of a moved hub's endpoint, at most once, across crashes.

Approving a request approves the restarts its plan lists; once Azure reports the move
Succeeded, each consumer to restart gets one ``pending`` action. A process takes it
(``acting``, with a lease) *before* it asks Azure, and records the result (``done``). A
process killed while ``acting`` leaves Azure's outcome unknown: the action is then
``interrupted`` and said so — never sent again, since a second restart of a Stream Analytics
job is a second outage of its output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain.consumer_results import RestartOutcome, RestartResult
from bot.domain.consumers import Consumer
from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.domain.request import SYSTEM


class ActionStatus(StrEnum):
    PENDING = "pending"
    ACTING = "acting"
    DONE = "done"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class ConsumerAction:
    request_id: str
    hub: str
    kind: OperationKind
    consumer: Consumer
    status: ActionStatus = ActionStatus.PENDING
    batch_id: str | None = None
    outcome: RestartOutcome | None = None
    sentence: str = ""  # what the thread and the audit log say of it
    finished_at: datetime | None = None
    announced: bool = False

    def finished(self, result: RestartResult, at: datetime) -> ConsumerAction:
        return replace(self, status=ActionStatus.DONE, outcome=result.outcome,
                       sentence=result.sentence(), finished_at=at)

    def interrupted(self, at: datetime) -> ConsumerAction:
        return replace(self, status=ActionStatus.INTERRUPTED, outcome=RestartOutcome.UNKNOWN,
                       finished_at=at,
                       sentence=(f"the bot stopped while acting on {self.consumer.label}, so "
                                 "whether Azure restarted it is unknown; it was not sent "
                                 "again: check it and restart it by hand if needed"))

    def audit_event(self, detail: dict[str, object] | None = None) -> AuditEvent:
        if self.finished_at is None or self.outcome is None:
            raise ValueError(f"{self.request_id}: {self.consumer.label} has not ended")
        return AuditEvent(at=self.finished_at, action=AuditAction.CONSUMER, actor=SYSTEM,
                          hub=self.hub, request_id=self.request_id, kind=self.kind,
                          batch_id=self.batch_id,
                          detail={"consumer": self.consumer.resource_id,
                                  "consumer_kind": self.consumer.kind.value,
                                  "outcome": self.outcome.value, "said": self.sentence,
                                  **(detail or {})})
