"""The things failover-bot talks about: hubs, operations, requests and audit events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.domain.hub_ref import HubRef
from bot.domain.regions import display_name, same_region

if TYPE_CHECKING:  # the field's type only: consumers are parsed where tags are read
    from bot.domain.consumers import HubConsumers


class OperationKind(StrEnum):
    FAILOVER = "failover"
    FAILBACK = "failback"

    @property
    def other(self) -> OperationKind:
        return OperationKind.FAILBACK if self is OperationKind.FAILOVER else OperationKind.FAILOVER


def decide_kind(home_region: str, active_region: str) -> OperationKind:
    """A hub active outside its home region can only fail back; otherwise it fails over."""
    if same_region(home_region, active_region):
        return OperationKind.FAILOVER
    return OperationKind.FAILBACK


@dataclass(frozen=True)
class HubState:
    """A hub as Azure reports it right now."""

    ref: HubRef
    home_region: str
    active_region: str
    target_region: str
    state: str
    provisioning_state: str
    host_name: str = ""
    event_hub_endpoint: str | None = None
    device_count: int | None = None
    # From the hub's ``failover-priority`` tag: lower goes first in a regional batch.
    priority: int | None = None
    # From its ``failover-bot-consumers`` tags: who reads its Event Hub-compatible endpoint.
    consumers: HubConsumers | None = None
    # Its ``failover-bot-drill`` tag is ``allowed``: it may be drilled (bot.domain.drill).
    drill_tagged: bool = False

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def next_kind(self) -> OperationKind:
        return decide_kind(self.home_region, self.active_region)

    @property
    def is_ready(self) -> bool:
        """Azure accepts a failover only on an Active hub whose last change succeeded."""
        return self.state.lower() == "active" and self.provisioning_state.lower() == "succeeded"

    @property
    def has_pair(self) -> bool:
        """Azure can fail it over: a paired region exists (not a data-residency region)."""
        return bool(self.target_region)

    @property
    def active_display(self) -> str:
        return display_name(self.active_region)

    @property
    def target_display(self) -> str:
        return display_name(self.target_region)


class AuditAction(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    STARTED = "started"  # the first POST to Azure (written before it is sent)
    RETRY = "retry"  # a later POST, after Azure definitely did not take an earlier one
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    OBSERVED = "observed"  # an operation done outside the bot, seen in Azure's Activity Log
    SKIPPED = "skipped"  # a batch's hub that needed nothing by its turn
    STOPPED = "stopped"  # "Stop the rest" of a batch
    VERIFIED = "verified"  # after a move: Azure Monitor shows the hub running again
    NOT_RECOVERED = "not_recovered"  # … shows it has not, when the window closed
    UNVERIFIED = "unverified"  # … could not tell (no data, no permission): said, not guessed
    CONSUMER = "consumer"  # a consumer of the endpoint acted on after a move (restarted…)
    DRILL = "drill"  # a drill's own steps: its failback scheduled, stopped, its report
    CLEANED = "cleaned"  # what somebody typed had characters removed before use (user_text)


@dataclass(frozen=True)
class AuditEvent:
    """One line of the append-only audit log."""

    at: datetime
    action: AuditAction
    actor: str
    hub: str | None = None
    request_id: str | None = None
    kind: OperationKind | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    batch_id: str | None = None


PRIORITY_TAG = "failover-priority"


def priority_from_tags(tags: dict[str, str] | None) -> int | None:
    """The hub's ``failover-priority`` tag as a number (lower first); junk is no priority."""
    raw = (tags or {}).get(PRIORITY_TAG)
    try:
        return int(str(raw).strip()) if raw is not None else None
    except ValueError:
        return None


def events_of(actions: Sequence[str]) -> frozenset[AuditAction]:
    """Parse action names from user input (raises ValueError naming the bad one)."""
    result = set()
    for name in actions:
        try:
            result.add(AuditAction(name.strip().lower()))
        except ValueError:
            valid = ", ".join(a.value for a in AuditAction)
            raise ValueError(f"unknown status {name!r} (one of: {valid})") from None
    return frozenset(result)
