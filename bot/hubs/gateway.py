"""The narrow interface through which failover-bot sees IoT Hubs.

Two implementations: :mod:`bot.hubs.azure` (azure-mgmt-iothub) and the sandbox's simulated
fleet (:mod:`failover_sandbox.fleet.simulated`, outside the product package).
Every method may raise a :class:`GatewayError` subclass; none blocks for the length of an
operation: ``start_failover`` returns a durable handle and ``poll`` looks once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.model import HubRef, HubState


class OperationState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class OperationPoll:
    """One look at a running operation; ``retry_after`` (seconds) is Azure's hint, if any."""

    state: OperationState
    retry_after: float | None = None
    error_code: str | None = None
    error_message: str | None = None


class GatewayError(Exception):
    """Azure said no, or could not be reached. ``code``/``message`` are Azure's own words."""

    def __init__(self, message: str, *, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


class HubNotFound(GatewayError):
    """No hub of that name in the configured subscriptions (or Azure answered 404)."""


class AmbiguousHub(GatewayError):
    """Several hubs of that name exist in the configured subscriptions."""

    def __init__(self, message: str, *, candidates: list[HubRef]) -> None:
        super().__init__(message, code="AmbiguousHub")
        self.candidates = candidates


class OperationConflict(GatewayError):
    """Azure is already running an operation on this hub (409)."""


class Throttled(GatewayError):
    """ARM throttled us (429); ``retry_after`` says when to try again."""


class Forbidden(GatewayError):
    """The bot's identity lacks a permission; ``permission`` names it when Azure does."""

    def __init__(self, message: str, *, code: str | None = None,
                 permission: str | None = None) -> None:
        super().__init__(message, code=code)
        self.permission = permission


class LimitReached(GatewayError):
    """Azure refused because of its own failover limits (daily quota, failback too soon)."""


class TransientError(GatewayError):
    """A 5xx or network failure that is safe to retry later."""


class CouldNotRead(TransientError):
    """An answer the bot will not use: too slow, endless, or not in the shape Azure documents
    (:mod:`bot.hubs.bounded`). ``reason`` says which, in a few words, for people."""

    def __init__(self, message: str, *, code: str, reason: str) -> None:
        super().__init__(message, code=code)
        self.reason = reason


class IotHubGateway(Protocol):
    def list_hubs(self) -> list[HubState]:
        """Every hub visible in the configured subscriptions (``device_count`` is ``None``)."""
        ...

    def resolve(self, name: str) -> HubRef:
        """Find the hub called ``name``; raises HubNotFound or AmbiguousHub."""
        ...

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        """Read the hub's live state (and its device count unless told not to)."""
        ...

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        """Ask Azure to fail the hub over to ``target_region``; return a durable handle.

        The handle is a plain string that :meth:`poll` understands after a restart in
        another process. An ambiguous failure (timeout, reset) is never blindly retried.
        """
        ...

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        """Look once at the operation behind ``handle``; never sleeps."""
        ...
