"""A regional batch through the real use cases, the SQL store and the real poller, on the
simulated fleet: which hubs a region lists, one approval, paced POSTs (one per hub), one
board, skips, failures and retries, stop the rest."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.domain.pacing import StartPacer
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.poller import Poller
from bot.service import BatchSubmitted, Board, FailoverService, SubmitBatch
from bot.store.base import AuditQuery, StoreUnavailable
from bot.store.pace import SqlStartPace
from bot.store.sql import SqlUnitOfWork
from tests.integration.poller.conftest import POLL_INTERVAL, RecordingNotifier, WatchedGateway

ALICE, BOB = Actor("U_ALICE"), Actor("U_BOB")
CHANNEL = "C_INCIDENT"
RATE = 6  # starts a minute: ten seconds apart


@dataclass
class RecordingBoards:
    """Stands in for Slack's board: every edit, failure reply and closing reply."""

    clock: FakeClock
    shown: list[tuple[datetime, Board]] = field(default_factory=list)
    failures: list[FailoverRequest] = field(default_factory=list)
    closed: list[Board] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attach: Callable[[str, str], None] | None = None  # where a posted board is remembered

    def show_board(self, board: Board) -> None:
        with self.lock:
            self.shown.append((self.clock.now(), board))
        if board.batch.message_ts is None and self.attach is not None:
            self.attach(board.batch.id, f"1700000000.{len(self.shown):06d}")

    def failure(self, board: Board, request: FailoverRequest) -> None:
        self.failures.append(request)

    def finished(self, board: Board) -> None:
        self.closed.append(board)

    @property
    def last(self) -> Board:
        return self.shown[-1][1]


class StartLog(WatchedGateway):
    """The fleet, noting when each POST was made (fake time) and for which hub."""

    def __init__(self, clock: FakeClock, **kwargs: object) -> None:
        super().__init__(clock, **kwargs)
        self.posts: list[tuple[datetime, str]] = []

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        handle = super().start_failover(ref, target_region)
        self.posts.append((self.clock.now(), ref.name))
        return handle


@dataclass
class Region:
    clock: FakeClock
    gateway: StartLog
    service: FailoverService
    boards: RecordingBoards
    poller: Poller

    def submit(self, hubs: list[str] | None = None, *, posted: bool = True,
               **kwargs: object) -> BatchSubmitted:
        preview = self.service.regional.preview(ALICE, CHANNEL, "West Europe",
                                                OperationKind.FAILOVER)
        assert not isinstance(preview, Exception) and hasattr(preview, "eligible"), preview
        chosen = hubs if hubs is not None else [c.hub.name for c in preview.eligible]
        result = self.service.regional.submit(SubmitBatch(
            actor=ALICE, channel_id=CHANNEL, kind=OperationKind.FAILOVER, region="westeurope",
            typed_region="West Europe", reason="INC-42 West Europe down", hubs=chosen,
            **kwargs))  # type: ignore[arg-type]
        assert isinstance(result, BatchSubmitted), result
        if posted:  # as the listener that recorded it does
            self.service.boards.attach_message(result.batch.id, "1700000000.000100")
        return result

    def run_until(self, done: Callable[[], bool], max_rounds: int = 3_000) -> None:
        for _ in range(max_rounds):
            self.poller.run_once()
            if done():
                return
            self.clock.advance(timedelta(seconds=1))
        raise AssertionError("not reached")

    def members(self, batch_id: str) -> list[FailoverRequest]:
        with self.service.uow() as uow:
            return uow.requests.members(batch_id)


@pytest.fixture
def region(uow_factory: Callable[[], SqlUnitOfWork]) -> Region:
    clock = FakeClock()
    gateway = StartLog(clock, speed=8)
    for name, devices, priority in [("weu-a", 1_000, None), ("weu-b", 400_000, None),
                                    ("weu-c", 50_000, 1), ("weu-d", 2_000, None),
                                    ("weu-e", 90_000, 2), ("weu-f", 10_000, None)]:
        gateway.add_hub(name, "West Europe", devices, priority=priority)
    gateway.add_hub("neu-a", "North Europe", 5_000)  # active elsewhere: not listed
    gateway.add_hub("weu-local", "West Europe", 100, secondary="")  # no paired region
    service = FailoverService(uow=uow_factory, gateway=gateway, clock=clock,
                              access=AccessPolicy(), poll_interval=POLL_INTERVAL,
                              batch_starts_per_minute=RATE)
    boards = RecordingBoards(clock)
    boards.attach = lambda batch_id, ts: service.boards.attach_message(batch_id, ts)
    poller = Poller(service, uow_factory, RecordingNotifier(clock), clock, owner_id="a",
                    poll_interval=POLL_INTERVAL, lease_ttl=timedelta(seconds=60),
                    rng=random.Random(1), boards=boards)
    return Region(clock, gateway, service, boards, poller)


def test_the_dialog_lists_exactly_the_hubs_active_in_the_region(region: Region) -> None:
    # neu-b was failed over into West Europe: active there, but its move would be a failback.
    region.gateway.add_hub("neu-b", "North Europe", 1_000)
    region.gateway.outside_failover("neu-b", caller="oncall@contoso.com", ago=timedelta(hours=2))
    preview = region.service.regional.preview(ALICE, CHANNEL, "westeurope",
                                              OperationKind.FAILOVER)
    assert not isinstance(preview, Exception)
    listed = {c.hub.name: c for c in preview.candidates}
    assert set(listed) == {"weu-a", "weu-b", "weu-c", "weu-d", "weu-e", "weu-f", "weu-local",
                           "neu-b"}
    assert "paired region" in (listed["weu-local"].reason or "")
    assert "failback" in (listed["neu-b"].reason or "")
    # Eligible ones first, tagged by priority, then by devices (most first).
    assert [c.hub.name for c in preview.eligible] == ["weu-c", "weu-e", "weu-b", "weu-f",
                                                      "weu-d", "weu-a"]


def test_a_batch_of_six_posts_once_per_hub_paced_and_shows_one_board(region: Region) -> None:
    submitted = region.submit()
    assert len(submitted.members) == 6
    decision = region.service.batch_deciding.approve(BOB, submitted.batch.id)
    assert decision.ok and decision.changed == 6
    again = region.service.batch_deciding.approve(Actor("U_CAROL"), submitted.batch.id)
    assert again.refusal is not None and "already approved by <@U_BOB>" in again.refusal.message
    batch_id = submitted.batch.id
    region.run_until(lambda: bool(region.boards.closed))

    members = region.members(batch_id)
    assert [r.status for r in members] == [RequestStatus.SUCCEEDED] * 6
    posted = [hub for _, hub in region.gateway.posts]
    assert posted == ["weu-c", "weu-e", "weu-b", "weu-f", "weu-d", "weu-a"]  # one each, in order
    times = [at for at, _ in region.gateway.posts]
    assert all(b - a >= timedelta(minutes=1) / RATE for a, b in itertools.pairwise(times))
    final = region.boards.last
    assert final.totals.done == 6 and final.finished
    assert {line.hub for line in final.lines} == {r.hub.name for r in members}
    assert len(region.boards.closed) == 1
    # Edits at most once per five seconds, never once per hub per poll.
    edits = [at for at, _ in region.boards.shown]
    assert all(b - a >= timedelta(seconds=5) for a, b in itertools.pairwise(edits))
    with region.service.uow() as uow:
        events = uow.events.search(AuditQuery(batch_id=batch_id, limit=500))
    assert {e.request_id for e in events if e.request_id} == {r.id for r in members}
    assert sum(e.action.value == "started" for e in events) == 6


def test_a_hub_moved_meanwhile_is_skipped_without_a_post(region: Region) -> None:
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    region.gateway.outside_failover("weu-a", caller="oncall@contoso.com",
                                    ago=timedelta(minutes=1))
    region.run_until(lambda: bool(region.boards.closed))
    by_hub = {r.hub.name: r for r in region.members(submitted.batch.id)}
    assert by_hub["weu-a"].status is RequestStatus.SKIPPED
    assert "weu-a" not in [hub for _, hub in region.gateway.posts]
    assert region.boards.last.totals.skipped == 1 and region.boards.last.totals.done == 5


def test_a_failing_hub_gets_a_reply_and_retry_failed_moves_it(region: Region) -> None:
    region.gateway.inject("weu-d", fail_next_with=("InternalServerError", "Failover failed"))
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    region.run_until(lambda: bool(region.boards.closed))
    assert [r.hub.name for r in region.boards.failures] == ["weu-d"]
    assert region.boards.last.totals.failed == 1
    retried = region.service.batch_deciding.retry_failed(ALICE, submitted.batch.id)
    assert retried.refusal is not None  # the requester cannot approve the retry
    retried = region.service.batch_deciding.retry_failed(BOB, submitted.batch.id)
    assert retried.ok and retried.changed == 1
    region.run_until(lambda: len(region.boards.closed) == 2)
    assert region.boards.last.totals.done == 6 and region.boards.last.totals.failed == 0
    assert [hub for _, hub in region.gateway.posts].count("weu-d") == 2
    assert len(region.boards.failures) == 1  # told once


def test_stop_the_rest_cancels_the_hubs_not_started(region: Region) -> None:
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    region.run_until(lambda: len(region.gateway.posts) == 2)
    stopped = region.service.batch_deciding.stop(ALICE, submitted.batch.id)
    assert stopped.ok and stopped.changed == 4
    region.run_until(lambda: bool(region.boards.closed))
    statuses = sorted(r.status.value for r in region.members(submitted.batch.id))
    assert statuses == ["cancelled"] * 4 + ["succeeded"] * 2
    assert len(region.gateway.posts) == 2
    assert region.service.batch_deciding.stop(BOB, submitted.batch.id).refusal is not None


def test_a_hub_whose_turn_comes_after_the_ttl_is_retried_not_failed(region: Region) -> None:
    """Azure busy for the last hub of a long batch: its wait counts from its turn, not from
    the approval, so it is tried again rather than given up."""
    region.service.request_ttl = timedelta(minutes=2)
    region.service.starting.pacer = StartPacer(2)  # thirty seconds apart: the last at 2.5 min
    region.service.batch_starts_per_minute = 2
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    region.gateway.inject("weu-a", transient_errors=1)  # last in order: its turn is late
    region.run_until(lambda: bool(region.boards.closed))
    by_hub = {r.hub.name: r for r in region.members(submitted.batch.id)}
    assert by_hub["weu-a"].status is RequestStatus.SUCCEEDED, by_hub["weu-a"]
    with region.service.uow() as uow:
        events = uow.events.search(AuditQuery(request_id=by_hub["weu-a"].id, limit=50))
    assert any("start_postponed" in e.detail for e in events)


def test_a_batch_whose_approval_message_was_never_posted_is_posted_by_the_keeper(
        region: Region) -> None:
    """The listener that recorded it failed to post it (or died): a minute later the board
    keeper posts it, once, so people can approve it."""
    submitted = region.submit(posted=False)
    region.run_until(lambda: bool(region.boards.shown))
    at, board = region.boards.shown[0]
    assert board.batch.id == submitted.batch.id
    assert at - submitted.batch.created_at >= timedelta(seconds=60)
    region.clock.advance(timedelta(minutes=2))
    region.poller.run_once()
    assert len(region.boards.shown) == 1  # posted once, then left to its approval


def test_a_batch_hubs_end_costs_no_activity_log_query(
        uow_factory: Callable[[], SqlUnitOfWork]) -> None:
    # A single request's completion message reads the Activity Log (quota left today); a
    # batch's hub ends on its board, so its end must not query it (1,000 hubs: 1,000 queries).
    clock = FakeClock()
    gateway = StartLog(clock, speed=8)
    for name in ("weu-a", "weu-b", "weu-c"):
        gateway.add_hub(name, "West Europe", 1_000)
    service = FailoverService(uow=uow_factory, gateway=gateway, clock=clock,
                              access=AccessPolicy(), poll_interval=POLL_INTERVAL,
                              batch_starts_per_minute=RATE, activity=gateway)
    boards = RecordingBoards(clock)
    poller = Poller(service, uow_factory, RecordingNotifier(clock), clock, owner_id="a",
                    poll_interval=POLL_INTERVAL, lease_ttl=timedelta(seconds=60),
                    rng=random.Random(1), boards=boards)
    region = Region(clock, gateway, service, boards, poller)
    submitted = region.submit()
    assert gateway.calls["activity_log"] >= 3  # the dialog and the submission read it
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    before = gateway.calls["activity_log"]
    region.run_until(lambda: bool(region.boards.closed))
    assert [r.status for r in region.members(submitted.batch.id)] == [RequestStatus.SUCCEEDED] * 3
    assert gateway.calls["activity_log"] == before


def test_hubs_whose_slots_all_passed_meanwhile_still_post_one_interval_apart(
        region: Region) -> None:
    """The poller was away (a restart, a starved machine) past every slot: the hubs do not
    all POST in its first round, they take new slots from the bucket."""
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    region.clock.advance(timedelta(minutes=5))  # every slot long gone
    region.run_until(lambda: bool(region.boards.closed))
    times = [at for at, _ in region.gateway.posts]
    assert len(times) == 6
    assert all(b - a >= timedelta(minutes=1) / RATE for a, b in itertools.pairwise(times))


def test_a_turn_another_replica_took_holds_the_first_post_an_interval_without_a_read(
        region: Region) -> None:
    """The pace is the deployment's: another replica POSTed just now (its turn is in the
    database), so this one's first POST waits one interval, and reads no hub meanwhile."""
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    interval = timedelta(minutes=1) / RATE
    with region.service.uow() as uow:  # the other replica's turn
        other = uow.pace.claim_next(interval, region.clock.now)
        uow.commit()
    reads = region.gateway.calls["get_state"]
    region.run_until(lambda: region.clock.now() >= other + interval - timedelta(seconds=2))
    assert region.gateway.calls["get_state"] == reads and region.gateway.posts == []
    region.run_until(lambda: bool(region.gateway.posts))
    assert region.gateway.posts[0][0] == other + interval


def test_the_database_lost_at_a_turn_still_posts_on_this_process_pace(
        region: Region) -> None:
    """The request is running (audited) when its turn is claimed: a database gone just then
    must not leave the hub unstarted; this process's own pace spaces the POSTs instead."""
    submitted = region.submit()
    region.service.batch_deciding.approve(BOB, submitted.batch.id)
    first, second = [r.id for r in region.members(submitted.batch.id)][:2]

    def unreachable(pace: SqlStartPace, interval: timedelta, now: object) -> datetime:
        raise StoreUnavailable("the database is unavailable: connection refused")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SqlStartPace, "claim_next", unreachable)
        started = region.service.starting.start(first)
        assert started is not None and started.operation_handle
        waiting = region.service.starting.start(second)  # its turn is not near: no read
        assert waiting is not None and waiting.status is RequestStatus.APPROVED
        assert waiting.next_poll_at is not None
        region.clock.set(waiting.next_poll_at)
        region.service.starting.start(second)
    assert [hub for _, hub in region.gateway.posts] == ["weu-c", "weu-e"]
    (one, _), (two, _) = region.gateway.posts
    assert two - one == timedelta(minutes=1) / RATE
