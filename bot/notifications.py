"""The port through which use cases and the poller tell people what happened (chat-neutral)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from bot.domain.consumer_action import ConsumerAction
from bot.domain.drill import Drill
from bot.domain.model import HubState
from bot.domain.request import FailoverRequest
from bot.domain.verification_state import Verification


class Milestone(StrEnum):
    STARTED = "started"
    SLOW = "slow"  # taking longer than estimated
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ProgressUpdate:
    """Where a running operation stands; ``milestone`` is set when a reply is due."""

    request: FailoverRequest
    elapsed: timedelta
    estimate: timedelta
    milestone: Milestone | None = None


@dataclass(frozen=True)
class CompletionReport:
    """What people need when an operation ends (successfully or not)."""

    request: FailoverRequest
    hub: HubState | None  # re-read from Azure after the end; None if that failed
    quota_left: int
    failback_allowed_at: datetime | None
    verifying: bool = False  # a verdict from Azure Monitor follows in the thread


class Notifier(Protocol):
    def request_changed(self, request: FailoverRequest) -> None:
        """Show the request's new state where it was announced (e.g. edit the approval message)."""
        ...

    def progress(self, update: ProgressUpdate) -> None:
        """Report progress of a running operation (coalescing is allowed, dropping is not)."""
        ...

    def completed(self, report: CompletionReport) -> None:
        """Report the end of an operation; must not be silently dropped."""
        ...



@dataclass(frozen=True)
class VerdictReport:
    """A move's verdict for its thread: the sentence and the devices' picture."""

    request: FailoverRequest
    verification: Verification
    words: str
    picture: str


@runtime_checkable
class AfterMoveNotifier(Protocol):
    """Where the verdict and each consumer's restart are told (the request's thread)."""

    def verdict(self, report: VerdictReport) -> None: ...

    def consumer_acted(self, request: FailoverRequest, action: ConsumerAction) -> None: ...


@runtime_checkable
class DrillNotifier(Protocol):
    """Where a drill's steps are told: its failover leg's thread; a scheduled drill that
    could not start, in its channel."""

    def drill_said(self, request: FailoverRequest, drill: Drill, text: str) -> None: ...

    def drill_refused(self, channel_id: str, text: str) -> None: ...
