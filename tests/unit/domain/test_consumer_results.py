"""What the thread says after acting on a consumer: the time it took, or Azure's own words —
and a Stream Analytics job left stopped is never called merely "not restarted"."""

from __future__ import annotations

import pytest

from bot.domain.consumer_results import RestartOutcome, RestartResult, Step
from bot.domain.consumers import Consumer, ConsumerKind

SUB = "91d12660-3dec-467a-be2a-213b5544ddc0"
FUNC = Consumer(ConsumerKind.FUNCTION_APP, SUB, "rg", "func-telemetry")
ASA = Consumer(ConsumerKind.STREAM_ANALYTICS, SUB, "rg", "asa-alerts")
DENIED = ("The client 'bot' does not have authorization to perform action "
          "'Microsoft.Web/sites/restart/action' over scope '/subscriptions/x'.")


@pytest.mark.parametrize(("result", "words"), [
    (RestartResult(FUNC, RestartOutcome.RESTARTED, 38.4),
     "restarted func-telemetry (Function app) in 38s"),
    (RestartResult(ASA, RestartOutcome.RESTARTED, 130.0, requests=6),
     "restarted asa-alerts (Stream Analytics job) in 2m 10s, from its last output"),
    (RestartResult(FUNC, RestartOutcome.FAILED, 0.4, step=Step.RESTART, status=403,
                   code="AuthorizationFailed", message=DENIED),
     f"could not restart func-telemetry (Function app): {DENIED[:-1]} "
     "(AuthorizationFailed, HTTP 403)"),
    (RestartResult(ASA, RestartOutcome.LEFT_STOPPED, 75.0, step=Step.START,
                   code="BadRequest", message="The job has never produced output."),
     "stopped asa-alerts (Stream Analytics job) but could not start it again: The job has "
     "never produced output (BadRequest). Start it by hand."),
    (RestartResult(ASA, RestartOutcome.UNKNOWN, 600.0, step=Step.STOP,
                   message="still running after 600s"),
     "Azure did not confirm the stop of asa-alerts (Stream Analytics job) within 10m "
     "(still running after 600s): check it, and start it by hand if it has stopped."),
    (RestartResult(FUNC, RestartOutcome.UNKNOWN, 31.0, step=Step.RESTART),
     "Azure did not confirm the restart of func-telemetry (Function app) within 31s "
     "(no message): check it and restart it by hand if needed."),
])
def test_each_outcome_reads_as_what_happened(result: RestartResult, words: str) -> None:
    assert result.sentence() == words
    assert result.ok is (result.outcome is RestartOutcome.RESTARTED)
