"""What acting on one consumer came to, in Azure's words, for the thread and the audit log.

A Stream Analytics job is stopped and then started: when the start fails after the stop
succeeded, the job is left *stopped* — worse than before — and that is said in so many words,
never folded into "could not restart". When Azure gave no answer the outcome is unknown, and
that is said too: the bot never claims a restart Azure did not confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.domain.consumers import Consumer, ConsumerKind
from bot.domain.durations import humanize


class RestartOutcome(StrEnum):
    RESTARTED = "restarted"
    FAILED = "failed"  # Azure refused: nothing was changed
    LEFT_STOPPED = "left_stopped"  # a Stream Analytics job stopped, then not started again
    UNKNOWN = "unknown"  # no answer from Azure in time: it may or may not have happened


class Step(StrEnum):
    RESTART = "restart"  # a Function app's one request
    STOP = "stop"
    START = "start"


@dataclass(frozen=True)
class RestartResult:
    """The end of acting on one consumer: how long it took (back-off waits included), how
    many requests it sent to Azure (looks at an operation included), and on failure the step
    and Azure's own code and words."""

    consumer: Consumer
    outcome: RestartOutcome
    seconds: float
    requests: int = 1
    step: Step | None = None  # the step that failed or went unanswered
    status: int | None = None  # Azure's HTTP status, when it answered one
    code: str | None = None
    message: str | None = None
    permission: str | None = None  # the action a 403 names as missing

    @property
    def ok(self) -> bool:
        return self.outcome is RestartOutcome.RESTARTED

    def sentence(self) -> str:
        """"restarted func-telemetry (Function app) in 38s", or what went wrong."""
        label = self.consumer.label
        took = humanize(timedelta(seconds=self.seconds))
        if self.outcome is RestartOutcome.RESTARTED:
            how = (", from its last output"
                   if self.consumer.kind is ConsumerKind.STREAM_ANALYTICS else "")
            return f"restarted {label} in {took}{how}"
        why = self.azure_words()
        if self.outcome is RestartOutcome.LEFT_STOPPED:
            return f"stopped {label} but could not start it again: {why}. Start it by hand."
        if self.outcome is RestartOutcome.UNKNOWN:
            then = ("check it, and start it by hand if it has stopped" if self.step is Step.STOP
                    else "check it and restart it by hand if needed")
            return (f"Azure did not confirm the {self._step_words()} of {label} within "
                    f"{took} ({why}): {then}.")
        return f"could not restart {label}: {why}"

    def azure_words(self) -> str:
        """Azure's message, with its code and HTTP status: "… (AuthorizationFailed, HTTP 403)"."""
        said = [part for part in (self.code, f"HTTP {self.status}" if self.status else None)
                if part]
        message = (self.message or "no message").rstrip(".")
        return f"{message} ({', '.join(said)})" if said else message

    def _step_words(self) -> str:
        return {Step.STOP: "stop", Step.START: "start"}.get(self.step or Step.RESTART, "restart")
