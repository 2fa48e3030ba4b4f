"""What the store keeps after a move: its verification and the consumers to act on.

Both are taken by one process at a time with a lease of their own (a look at Azure Monitor,
a restart), like the poller's, so a verification resumes on any replica after a crash and a
consumer is never acted on twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.consumer_action import ConsumerAction
from bot.domain.verification_state import Verification, VerificationSummary


class VerificationRepository(Protocol):
    def add(self, verification: Verification) -> bool:
        """Insert it unless the request has one already (a postponed start starts again)."""
        ...

    def get(self, request_id: str) -> Verification | None: ...

    def save(self, verification: Verification, expected_version: int) -> bool:
        """Compare-and-set on the version, as a request's save."""
        ...

    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Verification]:
        """Verifications due a look (``next_look_at`` passed) or owed a telling (a verdict
        not announced), whose lease is free or lapsed; leased to ``owner``."""
        ...

    def release(self, request_id: str, owner: str) -> None: ...

    def next_due(self, now: datetime) -> datetime | None:
        """When the soonest look is due, anywhere."""
        ...

    def latest_for_hub(self, hub: str) -> Verification | None:
        """The hub's latest verification with a verdict or under way (not skipped)."""
        ...

    def summaries(self, request_ids: Sequence[str]) -> dict[str, VerificationSummary]:
        """Each request's verification, status and figures only (a board's lines)."""
        ...


class ConsumerActionRepository(Protocol):
    def plan(self, actions: Sequence[ConsumerAction], now: datetime) -> None:
        """Add pending actions (a request's are added once)."""
        ...

    def take_pending(self, owner: str, now: datetime, lease: timedelta,
                     limit: int) -> list[ConsumerAction]:
        """Pending actions, now ``acting`` for ``owner``: taken before Azure is asked."""
        ...

    def lapsed(self, now: datetime, limit: int) -> list[ConsumerAction]:
        """Actions left ``acting`` by a process whose lease lapsed (it died)."""
        ...

    def acting(self, limit: int) -> list[tuple[ConsumerAction, str]]:
        """Actions being acted on, each with the process acting (to find a dead one's)."""
        ...

    def finish(self, action: ConsumerAction, *, owner: str | None) -> bool:
        """Record its end: an ``acting`` action of ``owner`` (None: a lapsed one)."""
        ...

    def untold(self, limit: int) -> list[ConsumerAction]:
        """Ended actions not yet announced."""
        ...

    def mark_told(self, action: ConsumerAction) -> None: ...

    def for_request(self, request_id: str) -> list[ConsumerAction]: ...
