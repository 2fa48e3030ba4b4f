"""A hub's manual failovers as Azure's Activity Log records them, merged with the bot's own.

Azure counts every manual failover against its daily limits and the failback cool-down,
whoever started it (the portal, the CLI, another tool). The Activity Log records each one as
the operation ``Microsoft.Devices/IotHubs/failover/action`` with its caller and outcome, but
not its direction: one action fails a hub over or back depending on where the hub was. This
module infers the directions, recognises the bot's own operations among them, and says what
the quota and the cool-down must count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.domain.model import OperationKind

FAILOVER_ACTION = "microsoft.devices/iothubs/failover/action"

# How far apart the bot's own start and Azure's record of it may be and still be one
# operation. Azure stamps the event when ARM receives the POST, seconds after the bot's
# started_at; two operations on one hub are always further apart (Azure runs one at a time,
# and one takes minutes).
OWN_MATCH_TOLERANCE = timedelta(minutes=5)


class Outcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def outcome_of(status: str) -> Outcome:
    """The Activity Log's ``status.value`` (Started, Accepted, Succeeded, Failed, Canceled…)."""
    value = status.strip().lower()
    if value == "succeeded":
        return Outcome.SUCCEEDED
    if value in ("failed", "canceled", "cancelled"):
        return Outcome.FAILED
    return Outcome.RUNNING


@dataclass(frozen=True)
class ActivityOperation:
    """One failover action: the Activity Log's events for one operation id, folded.

    ``started_at`` is the first event's time, ``ended_at`` the last one's once it ended.
    ``client`` names the tool when the caller's app is a well-known one ("Azure portal").
    """

    operation_id: str
    correlation_id: str
    caller: str
    started_at: datetime
    status: str
    ended_at: datetime | None = None
    client: str | None = None

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status)

    @property
    def who(self) -> str:
        """``in the Azure portal by oncall@contoso.com`` / ``by 1b2c…`` (a service principal)."""
        by = f"by {self.caller}" if self.caller else "by an unknown caller"
        return f"in the {self.client} {by}" if self.client else by


@dataclass(frozen=True)
class OwnStart:
    """One of the bot's own operations on the hub: its request id and when it started."""

    request_id: str
    started_at: datetime
    correlation_id: str | None = None


@dataclass(frozen=True)
class SeenOperation:
    """An Activity Log operation with its inferred direction; ``own`` is the bot's request id
    when the operation is the bot's own."""

    operation: ActivityOperation
    kind: OperationKind
    own: str | None = None

    @property
    def outside(self) -> bool:
        return self.own is None


def infer_kinds(operations: Sequence[ActivityOperation],
                at_home_now: bool) -> list[tuple[ActivityOperation, OperationKind]]:
    """Each operation's direction, oldest first, from where the hub is now.

    Walking back from the present: a successful operation brought the hub to where it was
    after it, so it was a failover if the hub was then away from home; an operation that did
    not succeed (failed, or still running) changed nothing, so it went the way the next one
    would. Assumes every move is on record (a Microsoft-initiated failover is not).
    """
    ordered = sorted(operations, key=lambda op: (op.started_at, op.operation_id))
    at_home_after = at_home_now
    kinds: list[OperationKind] = []
    for op in reversed(ordered):
        if op.outcome is Outcome.SUCCEEDED:
            kinds.append(OperationKind.FAILBACK if at_home_after else OperationKind.FAILOVER)
            at_home_after = not at_home_after
        else:
            kinds.append(OperationKind.FAILOVER if at_home_after else OperationKind.FAILBACK)
    return list(zip(ordered, reversed(kinds), strict=True))


def match_own(operations: Sequence[ActivityOperation], own: Sequence[OwnStart],
              tolerance: timedelta = OWN_MATCH_TOLERANCE) -> dict[str, str]:
    """Operation id → request id for the operations that are the bot's own.

    A stored correlation id decides; otherwise the nearest own start within ``tolerance``.
    Each side is matched at most once, so nothing is counted twice and nothing is lost.
    """
    matched: dict[str, str] = {}
    taken: set[str] = set()
    by_correlation = {o.correlation_id.lower(): o for o in own if o.correlation_id}
    for op in operations:
        mine = by_correlation.get(op.correlation_id.lower()) if op.correlation_id else None
        if mine is not None and mine.request_id not in taken:
            matched[op.operation_id] = mine.request_id
            taken.add(mine.request_id)
    pairs = sorted(
        (abs(op.started_at - o.started_at), op.operation_id, o.request_id)
        for op in operations if op.operation_id not in matched
        for o in own if o.request_id not in taken and not o.correlation_id
        and abs(op.started_at - o.started_at) <= tolerance)
    for _, operation_id, request_id in pairs:  # nearest first
        if operation_id not in matched and request_id not in taken:
            matched[operation_id] = request_id
            taken.add(request_id)
    return matched


def classify(operations: Sequence[ActivityOperation], own: Sequence[OwnStart],
             at_home_now: bool) -> list[SeenOperation]:
    """Directions and ownership of a hub's operations, oldest first."""
    mine = match_own(operations, own)
    return [SeenOperation(op, kind, mine.get(op.operation_id))
            for op, kind in infer_kinds(operations, at_home_now)]


def last_failover(seen: Sequence[SeenOperation]) -> SeenOperation | None:
    """The latest successful failover among ``seen`` (it starts the failback cool-down)."""
    done = [s for s in seen if s.kind is OperationKind.FAILOVER
            and s.operation.outcome is Outcome.SUCCEEDED]
    return max(done, key=lambda s: s.operation.ended_at or s.operation.started_at,
               default=None)


def sources(own_ids: Sequence[str], outside: Sequence[SeenOperation]) -> str:
    """``1 by this bot (fr-1a2b3c4d), 1 in the Azure portal by oncall@contoso.com at 14:02``."""
    parts: list[str] = []
    if own_ids:
        parts.append(f"{len(own_ids)} by this bot ({', '.join(own_ids)})")
    for s in outside:
        who = f"by this bot ({s.own})" if s.own else s.operation.who
        parts.append(f"1 {who} at {s.operation.started_at.astimezone(UTC):%H:%M} UTC")
    return ", ".join(parts)


def moved_unrecorded(at_home_then: bool, since: datetime, at_home_now: bool,
                     operations: Sequence[ActivityOperation]) -> bool:
    """True when the hub's region changed without a recorded operation to explain it.

    ``at_home_then`` is where the bot last knew the hub to be, at ``since``; each successful
    operation after that moved it once. A parity mismatch is a move nobody on record made:
    a Microsoft-initiated failover.
    """
    moves = sum(1 for op in operations
                if op.outcome is Outcome.SUCCEEDED and (op.ended_at or op.started_at) > since)
    return (at_home_then != at_home_now) != (moves % 2 == 1)
