"""Saving a request's change, and the small pieces several use cases share."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.request import Change, FailoverRequest, TransitionRefused
from bot.domain.rules import Refusal, RefusalReason
from bot.hubs.gateway import CouldNotRead, GatewayError
from bot.store.base import UnitOfWork


def change(uow: UnitOfWork, request: FailoverRequest,
           transition: Callable[[FailoverRequest], Change]) -> FailoverRequest | None:
    """Make one change of ``request`` and save it with its audit event; ``None`` when its
    status no longer allows it or somebody else changed it first (compare-and-set)."""
    try:
        changed = transition(request)
    except TransitionRefused:
        return None
    if not uow.requests.save(changed.request, request.version):
        return None
    if changed.event is not None:
        uow.events.append(changed.event)
    return changed.request


def azure_refusal(exc: GatewayError) -> Refusal:
    if isinstance(exc, CouldNotRead):  # the bot stopped reading: Azure said nothing of it
        return Refusal(RefusalReason.AZURE_ERROR, exc.message)
    code = f" ({exc.code})" if exc.code else ""
    return Refusal(RefusalReason.AZURE_ERROR, f"Azure said{code}: {exc.message}")
