"""Reading regional batches: the board of one, recent ones, the fleet by region (the Home
tab), and the board keeper's bookkeeping (who edits a board, what it last showed, which
hubs' ends people have seen).

A batch's hubs' verdicts (issue #22) are shown on its board, not replied one by one: each
line carries its hub's verification, and the board is not finished while a moved hub is
still being verified (so its keeper edits it when the verdict comes).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from bot.domain.batch import Batch, BoardTotals, latest_per_hub, totals
from bot.domain.model import HubState, OperationKind
from bot.domain.regions import display_name
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.verification_state import VerificationSummary, VerifyStatus
from bot.hubs.gateway import GatewayError
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs


@dataclass(frozen=True)
class BoardCheck:
    """A moved hub's verification as its board line shows it."""

    status: VerifyStatus  # watching, verified, not_recovered or unverified
    # A verdict's connected devices, % of the hour before, cut (94.9 is 94: never a 95 the
    # rules refused); None while watching (the board is not edited at every look).
    devices_pct: int | None = None


class CheckTotals(NamedTuple):
    """"11 moved · 10 verified · 1 devices not back", counted."""

    moved: int  # succeeded
    verified: int
    not_recovered: int
    unverified: int
    watching: int

    @property
    def any(self) -> bool:
        return bool(self.verified or self.not_recovered or self.unverified or self.watching)


@dataclass(frozen=True)
class BoardLine:
    """One hub on the board."""

    request: FailoverRequest
    estimate: timedelta
    check: BoardCheck | None = None  # None: not moved, or verification off

    @property
    def hub(self) -> str:
        return self.request.hub.name


@dataclass(frozen=True)
class Board:
    """A batch as its board shows it: one line per hub (its latest request) and totals."""

    batch: Batch
    lines: list[BoardLine]
    totals: BoardTotals
    now: datetime

    @property
    def finished(self) -> bool:
        """Nothing more will change: decided, no hub waiting or running, and no moved hub
        still being verified."""
        return self.batch.status.decided and self.totals.finished and not self.checks.watching

    @property
    def checks(self) -> CheckTotals:
        counts = dict.fromkeys(VerifyStatus, 0)
        moved = 0
        for line in self.lines:
            moved += line.request.status is RequestStatus.SUCCEEDED
            if line.check is not None:
                counts[line.check.status] += 1
        return CheckTotals(moved, counts[VerifyStatus.VERIFIED],
                           counts[VerifyStatus.NOT_RECOVERED], counts[VerifyStatus.UNVERIFIED],
                           counts[VerifyStatus.WATCHING])

    @property
    def failed(self) -> list[FailoverRequest]:
        return [line.request for line in self.lines
                if line.request.status is RequestStatus.FAILED]

    def digest(self) -> str:
        """Changes when what the board shows changes (not with the clock)."""
        parts = [self.batch.id, str(self.batch.version), str(self.batch.stopped_at)]
        parts += [f"{line.request.id}:{line.request.version}{_shown(line.check)}"
                  for line in self.lines]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Fleet:
    """What an incident commander opens first: hubs by active region, what runs, batches."""

    by_region: dict[str, list[HubState]]
    away_from_home: list[HubState]
    running: list[FailoverRequest]
    batches: list[Board]
    note: str | None = None  # set when Azure could not be read


class BoardNotifier(Protocol):
    """Where boards are shown (Slack: ``bot.slack.board_notifier``); errors propagate, so the keeper
    tries again later."""

    def show_board(self, board: Board) -> None:
        """Post the batch's message (its approval message, then its board), or edit it."""
        ...

    def failure(self, board: Board, request: FailoverRequest) -> None:
        """A reply under the board: which hub failed, in Azure's own words, and a
        Retry failed button."""
        ...

    def finished(self, board: Board) -> None:
        """One reply once every hub has ended."""
        ...


class Boards:
    def __init__(self, deps: ServiceDeps, hubs: Hubs) -> None:
        self.deps, self.hubs = deps, hubs

    def board(self, batch_id: str) -> Board | None:
        with self.deps.uow() as uow:
            batch = uow.batches.get(batch_id)
            if batch is None:
                return None
            members = uow.requests.members(batch_id)
            latest = latest_per_hub(members)
            checks = uow.verifications.summaries([r.id for r in latest])
        return self._board(batch, members, latest, checks)

    def recent(self, limit: int = 5) -> list[Board]:
        with self.deps.uow() as uow:
            batches = uow.batches.recent(limit)
            members = {b.id: uow.requests.members(b.id) for b in batches}
            latest = {b.id: latest_per_hub(members[b.id]) for b in batches}
            checks = uow.verifications.summaries([r.id for b in batches for r in latest[b.id]])
        return [self._board(b, members[b.id], latest[b.id], checks) for b in batches]

    def fleet(self, batches: int = 5) -> Fleet:
        note = None
        try:
            listed = self.deps.gateway.list_hubs()
        except GatewayError as exc:
            listed, note = [], f"Azure could not be read: {exc.message}"
        by_region: dict[str, list[HubState]] = defaultdict(list)
        for hub in sorted(listed, key=lambda h: h.name):
            by_region[display_name(hub.active_region)].append(hub)
        away = [h for h in listed if h.next_kind is OperationKind.FAILBACK]
        with self.deps.uow() as uow:  # from the records: also while Azure cannot be read
            running = uow.requests.open_requests(limit=200)
        return Fleet(dict(sorted(by_region.items())), away, running, self.recent(batches), note)

    def attach_message(self, batch_id: str, message_ts: str) -> None:
        with self.deps.uow() as uow:
            uow.batches.attach_message(batch_id, message_ts)
            uow.commit()

    # ---- the board keeper (the poller) --------------------------------------------------

    def claim(self, owner: str, lease: timedelta) -> list[Batch]:
        now = self.deps.clock.now()
        with self.deps.uow() as uow:
            claimed = uow.batches.claim_boards(owner, now, now + lease)
            uow.commit()
        return claimed

    def last_shown(self, batch_id: str) -> tuple[str | None, datetime | None]:
        with self.deps.uow() as uow:
            return uow.batches.board_digest(batch_id)

    def shown(self, board: Board, owner: str, *, finished: bool) -> None:
        """The board as ``board`` is on screen: its hubs' states have been seen;
        ``finished``: it will not change again (its keeper lets it go)."""
        with self.deps.uow() as uow:
            # A failure is seen once its own reply is out (failure_told), not before.
            uow.announcements.mark_members_notified({
                line.request.id: line.request.version for line in board.lines
                if line.request.status is not RequestStatus.FAILED})
            uow.batches.board_shown(board.batch.id, owner, board.digest(),
                                    self.deps.clock.now(), finished)
            uow.commit()

    def failure_told(self, request: FailoverRequest) -> None:
        """The failure reply for ``request`` is out (so it is not posted again)."""
        with self.deps.uow() as uow:
            uow.announcements.mark_notified(request.id, request.version)
            uow.commit()

    def untold_failures(self, board: Board) -> list[FailoverRequest]:
        """Failed hubs whose failure reply has not gone out yet."""
        with self.deps.uow() as uow:
            fresh = {r.id: r for r in uow.announcements.unnotified_members(board.batch.id)}
        return [r for r in board.failed if r.id in fresh]

    def _board(self, batch: Batch, members: list[FailoverRequest],
               latest: list[FailoverRequest],
               checks: dict[str, VerificationSummary]) -> Board:
        on = self.deps.verify_rules is not None and self.deps.hub_metrics is not None
        lines = [BoardLine(r, self.hubs.estimate(r.device_count),
                           _check(r, checks.get(r.id), verifying=on)) for r in latest]
        return Board(batch, lines, totals(members), self.deps.clock.now())


def _check(request: FailoverRequest, found: VerificationSummary | None, *,
           verifying: bool) -> BoardCheck | None:
    """What the hub's line shows of its verification: nothing for a hub that did not move,
    nor for one still watched once verification is off (no look will come)."""
    if found is None or request.status is not RequestStatus.SUCCEEDED:
        return None
    if not (found.status.verdict or (found.status is VerifyStatus.WATCHING and verifying)):
        return None
    figures = found.figures if found.status.verdict else None
    return BoardCheck(found.status,
                      None if figures is None else math.floor(figures.devices_pct))


def _shown(check: BoardCheck | None) -> str:
    """A line's verification in the digest (nothing without one: as before verification)."""
    return "" if check is None else f":{check.status.value}:{check.devices_pct}"
