"""How Azure answers a restart of a hub's consumer, in the simulated fleet: how long it takes
and the results it comes to, with Azure's own codes and words."""

from __future__ import annotations

import math
import random

from bot.domain.consumer_results import RestartOutcome, RestartResult, Step
from bot.domain.consumers import Consumer, ConsumerKind

# Azure seconds: a Function app restarts in well under a minute; a Stream Analytics job is
# stopped, then started again from its last output, each a long-running operation.
_FUNCTION_APP = (20.0, 40.0)
_STOP, _START = (30.0, 60.0), (60.0, 120.0)
_LOOK_EVERY = 10.0  # seconds between looks at an operation when Azure sends no Retry-After
_PERMISSION = {ConsumerKind.FUNCTION_APP: "Microsoft.Web/sites/restart/action",
               ConsumerKind.STREAM_ANALYTICS: "Microsoft.StreamAnalytics/streamingjobs/stop/action"}


def restart_steps(kind: ConsumerKind, rng: random.Random) -> list[float]:
    """Each step's duration in Azure seconds: the restart, or the stop then the start."""
    if kind is ConsumerKind.FUNCTION_APP:
        return [rng.uniform(*_FUNCTION_APP)]
    return [rng.uniform(*_STOP), rng.uniform(*_START)]


def requests_for(kind: ConsumerKind, steps: list[float]) -> int:
    """What the Azure implementation sends: one POST a step, and a job's looks at each."""
    if kind is ConsumerKind.FUNCTION_APP:
        return 1
    return sum(1 + max(1, math.ceil(seconds / _LOOK_EVERY)) for seconds in steps)


def restarted(consumer: Consumer, seconds: float, requests: int) -> RestartResult:
    return RestartResult(consumer, RestartOutcome.RESTARTED, seconds, requests)


def not_found(consumer: Consumer) -> RestartResult:
    """A consumer that no hub of the fleet declares: Azure has no such resource."""
    return RestartResult(
        consumer, RestartOutcome.FAILED, 0.0, 1, _first_step(consumer), 404, "ResourceNotFound",
        f"The Resource '{consumer.kind.resource_type}/{consumer.name}' under resource group "
        f"'{consumer.resource_group}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix")


def denied(consumer: Consumer, client: str) -> RestartResult:
    """The bot's identity lacks the first step's permission: Azure refuses, nothing changes."""
    permission = _PERMISSION[consumer.kind]
    return RestartResult(
        consumer, RestartOutcome.FAILED, 0.0, 1, _first_step(consumer), 403,
        "AuthorizationFailed",
        f"The client '{client}' with object id '{client}' does not have authorization to "
        f"perform action '{permission}' over scope '{consumer.resource_id}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials.",
        permission)


def _first_step(consumer: Consumer) -> Step:
    return Step.RESTART if consumer.kind is ConsumerKind.FUNCTION_APP else Step.STOP
