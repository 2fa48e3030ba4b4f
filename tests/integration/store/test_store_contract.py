"""The unit tier's fake store keeps the SQL store's promises: each behaviour the fake claims
(``tests/support/fake_store``) run on the fake, on SQLite and, with ``POSTGRES_TEST_URL``, on
PostgreSQL. A use case that passes on the fake relies on nothing the real store does not do."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.domain.batch import Batch, BatchStatus, new_batch_id
from bot.domain.drill import Drill, DrillStatus
from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.store.base import AuditQuery, HubLocked, UnitOfWork
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from tests.support import POSTGRES_TEST_URL, postgres_schema
from tests.support.fake_store import FakeStore

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # the new_request fixture's creation time
LEASE = timedelta(seconds=15)
Store = Callable[[], UnitOfWork]
NewRequest = Callable[..., FailoverRequest]
AWAITING = RequestStatus.AWAITING_APPROVAL
APPROVED, RUNNING = RequestStatus.APPROVED, RequestStatus.RUNNING
SUCCEEDED, FAILED = RequestStatus.SUCCEEDED, RequestStatus.FAILED


@pytest.fixture(params=[
    pytest.param("fake", id="fake"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "fake":
        yield FakeStore()
        return
    if request.param == "sqlite":
        yield from _sql(f"sqlite:///{tmp_path / 'store.db'}")
        return
    base_url = os.environ.get(POSTGRES_TEST_URL)
    if not base_url:
        pytest.skip(f"{POSTGRES_TEST_URL} is not set")
    with postgres_schema(base_url) as url:
        yield from _sql(url)


def _sql(url: str) -> Iterator[Store]:
    upgrade(url)
    engine = make_engine(url)
    yield unit_of_work_factory(engine)
    engine.dispose()


def add(store: Store, *requests: FailoverRequest) -> None:
    with store() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


def get(store: Store, request_id: str) -> FailoverRequest:
    with store() as uow:
        request = uow.requests.get(request_id)
    assert request is not None
    return request


def approved(new_request: NewRequest, **overrides: Any) -> FailoverRequest:
    change = new_request(**overrides).approve(T0, "U_APPROVER", T0)
    return change.request


def running(new_request: NewRequest, **overrides: Any) -> FailoverRequest:
    return approved(new_request, **overrides).start(T0, T0 + timedelta(seconds=30)).request


# -- the unit of work --------------------------------------------------------------------------

def test_a_request_round_trips_with_every_field_and_times_in_utc(
        store: Store, new_request: NewRequest) -> None:
    plus_two = timezone(timedelta(hours=2))
    request = new_request(
        status=RUNNING, approved_by="U_APPROVER", decided_at=T0 + timedelta(minutes=2),
        started_at=T0 + timedelta(minutes=3), region_after="northeurope",
        operation_handle="https://management.azure.com/x/operationResults/1?asyncinfo",
        error_code="Conflict", error_message="Azure said no", message_ts="1700000000.000100",
        status_message_ts="1700000000.000200", version=3, device_count=None,
        created_at=T0.astimezone(plus_two), batch_id="fb-00000001", batch_position=2)
    add(store, request)

    stored = get(store, request.id)
    assert stored == request
    assert stored.created_at.tzinfo == UTC
    with store() as uow:
        assert uow.requests.get("fr-missing") is None


def test_changes_are_seen_by_the_next_unit_of_work_only_once_committed(
        store: Store, new_request: NewRequest) -> None:
    kept, dropped, rolled_back = new_request(), new_request(hub="b-hub"), new_request(hub="c-hub")
    with store() as uow:
        uow.requests.add(dropped)
        assert uow.requests.get(dropped.id) == dropped  # its own changes, before the commit
    with store() as uow:
        uow.requests.add(kept)
        uow.commit()
        uow.requests.add(rolled_back)
        uow.rollback()
        assert uow.requests.get(rolled_back.id) is None
        assert uow.requests.get(kept.id) == kept

    with store() as uow:
        assert uow.requests.get(dropped.id) is None
        assert uow.requests.get(rolled_back.id) is None
        assert uow.requests.get(kept.id) == kept


def test_a_second_open_request_for_a_hub_is_refused_and_the_refusal_can_be_audited(
        store: Store, new_request: NewRequest) -> None:
    first = new_request()
    add(store, first)
    refusal = AuditEvent(T0, AuditAction.REFUSED, "U_REQUESTER", hub="contoso-hub",
                         detail={"reason": "hub_locked"})

    with store() as uow:
        with pytest.raises(HubLocked):
            uow.requests.add(new_request())
        uow.requests.add(new_request(hub="other-hub"))  # another hub is free
        uow.events.append(refusal)
        uow.commit()

    with store() as uow:
        assert uow.requests.open_for_hub("contoso-hub") == first
        assert [e.action for e in uow.events.search(AuditQuery(hub="contoso-hub"))] == [
            AuditAction.REFUSED]
        closed = first.reject(T0, "U_APPROVER").request
        assert uow.requests.save(closed, first.version)
        uow.requests.add(next_one := new_request())  # a closed request frees the hub
        uow.commit()
    with store() as uow:
        assert uow.requests.open_for_hub("contoso-hub") == next_one


# -- the aggregate: compare-and-set saves -------------------------------------------------------

def test_save_is_a_compare_and_set_on_the_version(store: Store,
                                                  new_request: NewRequest) -> None:
    request = new_request()
    add(store, request)
    first = request.approve(T0, "U_APPROVER", T0).request
    second = request.reject(T0, "U_OTHER").request  # decided from the same, now stale, read

    with store() as uow:
        assert uow.requests.save(first, request.version)
        assert not uow.requests.save(second, request.version)
        uow.commit()

    stored = get(store, request.id)
    assert stored.status is APPROVED and stored.version == request.version + 1
    assert stored.approved_by == "U_APPROVER"


def test_a_save_keeps_where_the_request_was_announced(store: Store,
                                                      new_request: NewRequest) -> None:
    request = new_request()
    add(store, request)
    with store() as uow:
        uow.announcements.attach_message(request.id, message_ts="171.1")
        uow.commit()
    with store() as uow:  # the request as read before the message was posted
        assert uow.requests.save(request.approve(T0, "U_APPROVER", T0).request,
                                 request.version)
        uow.commit()
    assert get(store, request.id).message_ts == "171.1"


# -- the use cases' queries ---------------------------------------------------------------------

def test_open_and_recent_requests_newest_first(store: Store, new_request: NewRequest) -> None:
    old = new_request(hub="a-hub")
    done = new_request(hub="a-hub", status=SUCCEEDED, created_at=T0 + timedelta(minutes=1))
    new = new_request(hub="b-hub", status=RUNNING, created_at=T0 + timedelta(minutes=2))
    add(store, old, done, new)

    with store() as uow:
        assert [r.id for r in uow.requests.open_requests()] == [new.id, old.id]
        assert [r.id for r in uow.requests.open_requests(limit=1)] == [new.id]
        assert [r.id for r in uow.requests.recent("a-hub")] == [done.id, old.id]
        assert [r.id for r in uow.requests.recent("a-hub", limit=1)] == [done.id]
        assert uow.requests.open_for_hub("a-hub") == old
        assert uow.requests.count_running() == 1


def test_quota_cool_down_and_durations_count_what_ran(store: Store,
                                                      new_request: NewRequest) -> None:
    def ended(hub: str, status: RequestStatus, minutes: int,
              kind: OperationKind = OperationKind.FAILOVER) -> FailoverRequest:
        at = T0 + timedelta(minutes=minutes)
        return new_request(hub=hub, status=status, kind=kind, decided_at=at,
                           started_at=at, completed_at=at + timedelta(minutes=minutes))

    short, long_ = ended("a-hub", SUCCEEDED, 5), ended("a-hub", SUCCEEDED, 20)
    failed = ended("a-hub", FAILED, 30)
    back = ended("a-hub", SUCCEEDED, 40, OperationKind.FAILBACK)
    add(store, short, long_, failed, back, ended("b-hub", SUCCEEDED, 50))

    with store() as uow:
        quota = uow.requests.quota_starts("a-hub", OperationKind.FAILOVER, T0)
        late = uow.requests.quota_starts("a-hub", OperationKind.FAILOVER,
                                         T0 + timedelta(minutes=10))
        at_the_edge = uow.requests.quota_starts("a-hub", OperationKind.FAILOVER,
                                                long_.decided_at)  # type: ignore[arg-type]
        last = uow.requests.last_completed("a-hub", OperationKind.FAILOVER)
        durations = uow.requests.recent_durations("a-hub")
        none_yet = uow.requests.last_completed("c-hub", OperationKind.FAILOVER)
    assert sorted(quota) == [short.decided_at, long_.decided_at]
    assert late == at_the_edge == [long_.decided_at]  # one exactly at ``since`` counts
    assert last == long_.completed_at
    assert durations == [timedelta(minutes=40), timedelta(minutes=20), timedelta(minutes=5)]
    assert none_yet is None


def test_requests_due_for_expiry_oldest_first(store: Store, new_request: NewRequest) -> None:
    later = new_request(hub="a-hub", expires_at=T0 + timedelta(minutes=20))
    sooner = new_request(hub="b-hub", expires_at=T0 + timedelta(minutes=10))
    decided = approved(new_request, hub="c-hub", expires_at=T0)
    add(store, later, sooner, decided)

    with store() as uow:
        assert uow.requests.due_for_expiry(T0 + timedelta(minutes=5)) == []
        assert [r.id for r in uow.requests.due_for_expiry(T0 + timedelta(minutes=20))] == [
            sooner.id, later.id]


def test_a_batchs_members_in_start_order_and_its_last_slot(store: Store,
                                                          new_request: NewRequest) -> None:
    second = approved(new_request, hub="b-hub", batch_id="fb-1", batch_position=1)
    first = approved(new_request, hub="a-hub", batch_id="fb-1", batch_position=0)
    second = second.evolve(next_poll_at=T0 + timedelta(minutes=2))
    add(store, second, first, approved(new_request, hub="c-hub",
                                       next_poll_at=T0 + timedelta(hours=1)))

    with store() as uow:
        assert [r.id for r in uow.requests.members("fb-1")] == [first.id, second.id]
        assert uow.requests.members("fb-2") == []
        assert uow.requests.last_batch_slot() == T0 + timedelta(minutes=2)


# -- the poller's leases -----------------------------------------------------------------------

def test_one_owner_at_a_time_holds_a_due_request(store: Store,
                                                 new_request: NewRequest) -> None:
    request = running(new_request)
    add(store, request)
    due = request.next_poll_at
    assert due is not None

    with store() as uow:
        assert uow.leases.claim_due("a", due - timedelta(seconds=1), LEASE, 10) == []
        assert [r.id for r in uow.leases.claim_due("a", due, LEASE, 10)] == [request.id]
        assert uow.leases.claim_due("b", due, LEASE, 10) == []  # a's lease is live
        assert uow.leases.live_leases(due) == [(request.id, "a")]
        uow.commit()
    with store() as uow:
        assert uow.leases.claim_due("a", due, LEASE, 10, skip={request.id}) == []
        assert uow.leases.renew_lease(request.id, "a", due + 2 * LEASE)
        assert not uow.leases.renew_lease(request.id, "b", due + 2 * LEASE)
        # Once a's lease lapses, b takes it over and a's renewals fail.
        assert [r.id for r in uow.leases.claim_due("b", due + 2 * LEASE, LEASE, 10)] == [
            request.id]
        assert not uow.leases.renew_lease(request.id, "a", due + 3 * LEASE)
        uow.commit()
    assert get(store, request.id).version == request.version  # bookkeeping, not a change


def test_a_released_lease_is_due_again_when_its_owner_says(store: Store,
                                                           new_request: NewRequest) -> None:
    request = running(new_request)
    add(store, request)
    later = T0 + timedelta(minutes=5)
    with store() as uow:
        uow.leases.take_lease(request.id, "a", T0 + timedelta(minutes=2))  # a start's POST
        uow.leases.release_lease(request.id, "b", T0)  # not b's: nothing happens
        assert uow.leases.claim_due("b", T0 + timedelta(minutes=1), LEASE, 10) == []
        uow.leases.release_lease(request.id, "a", later)
        assert uow.leases.live_leases(T0) == []
        assert uow.leases.next_due(T0) == later
        assert uow.leases.claim_due("b", later - timedelta(seconds=1), LEASE, 10) == []
        uow.leases.schedule_poll(request.id, T0 + timedelta(minutes=1))
        assert uow.leases.next_due(T0) == T0 + timedelta(minutes=1)
        assert [r.id for r in uow.leases.claim_due("b", T0 + timedelta(minutes=1),
                                                   LEASE, 10)] == [request.id]


def test_an_end_never_announced_is_claimed_until_it_is(store: Store,
                                                       new_request: NewRequest) -> None:
    ended = running(new_request).succeed(T0, "northeurope").request
    member = running(new_request, hub="b-hub", batch_id="fb-1").fail(T0, "X", "no").request
    add(store, ended, member)  # a batch's member is told on its board, not here

    with store() as uow:
        assert [r.id for r in uow.leases.claim_due("a", T0, LEASE, 10)] == [ended.id]
        uow.announcements.mark_notified(ended.id, ended.version)
        uow.commit()
    with store() as uow:
        assert uow.leases.claim_due("b", T0 + 2 * LEASE, LEASE, 10) == []


def test_claims_take_at_most_the_limit(store: Store, new_request: NewRequest) -> None:
    add(store, *(running(new_request, hub=f"hub-{i}") for i in range(3)))
    with store() as uow:
        assert len(uow.leases.claim_due("a", T0 + timedelta(minutes=1), LEASE, 2)) == 2
        assert len(uow.leases.claim_due("b", T0 + timedelta(minutes=1), LEASE, 2)) == 1


# -- what people were told ---------------------------------------------------------------------

def test_announcements_never_move_backwards_nor_change_the_version(
        store: Store, new_request: NewRequest) -> None:
    request = new_request()
    member = new_request(hub="b-hub", batch_id="fb-1", batch_position=0)
    add(store, request, member)

    with store() as uow:
        assert [r.id for r in uow.announcements.unnotified()] == [request.id]
        assert [r.id for r in uow.announcements.unnotified_members("fb-1")] == [member.id]
        uow.announcements.attach_message(request.id, message_ts="171.1")
        uow.announcements.attach_message(request.id, status_message_ts="171.2")
        uow.announcements.mark_notified(request.id, 2)
        uow.announcements.mark_notified(request.id, 1)  # a slower notifier: ignored
        uow.announcements.mark_members_notified({member.id: member.version})
        uow.commit()

    stored = get(store, request.id)
    assert (stored.message_ts, stored.status_message_ts) == ("171.1", "171.2")
    assert stored.version == request.version
    moved = stored.approve(T0, "U_APPROVER", T0).request  # version 2: already seen as of 2
    with store() as uow:
        assert uow.requests.save(moved, stored.version)
        assert uow.announcements.unnotified() == []
        assert uow.announcements.unnotified_members("fb-1") == []
        started = moved.start(T0, T0).request  # version 3: not seen yet
        assert uow.requests.save(started, moved.version)
        assert [r.id for r in uow.announcements.unnotified()] == [request.id]


# -- the audit log -----------------------------------------------------------------------------

def test_the_audit_log_filters_newest_first_and_keeps_details_as_json(store: Store) -> None:
    def event(minute: int, action: AuditAction, **kwargs: Any) -> AuditEvent:
        return AuditEvent(T0 + timedelta(minutes=minute), action, kwargs.pop("actor", "U1"),
                          **kwargs)

    with store() as uow:
        uow.events.append(event(0, AuditAction.REQUESTED, hub="a-hub", request_id="fr-1",
                                kind=OperationKind.FAILOVER,
                                detail={"at": T0, "hubs": ("a", "b")}))
        uow.events.append(event(1, AuditAction.APPROVED, hub="a-hub", request_id="fr-1",
                                actor="U2", batch_id="fb-1"))
        uow.events.append(event(2, AuditAction.REFUSED, hub="b-hub"))
        uow.commit()

    with store() as uow:
        def actions(**query: Any) -> list[AuditAction]:
            return [e.action for e in uow.events.search(AuditQuery(**query))]

        everything = uow.events.search(AuditQuery())
        assert actions() == [AuditAction.REFUSED, AuditAction.APPROVED, AuditAction.REQUESTED]
        assert actions(hub="a-hub") == [AuditAction.APPROVED, AuditAction.REQUESTED]
        assert actions(user="U2") == actions(batch_id="fb-1") == [AuditAction.APPROVED]
        assert actions(kind=OperationKind.FAILOVER) == [AuditAction.REQUESTED]
        assert actions(actions=frozenset({AuditAction.REFUSED})) == [AuditAction.REFUSED]
        assert actions(request_id="fr-1", limit=1, offset=1) == [AuditAction.REQUESTED]
        assert actions(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=2)) == [
            AuditAction.APPROVED]
    requested = everything[-1]
    assert requested.detail == {"at": str(T0), "hubs": ["a", "b"]}
    assert requested.kind is OperationKind.FAILOVER and requested.at.tzinfo == UTC
    assert len({e.id for e in everything}) == 3 and None not in {e.id for e in everything}


# -- batches and the start pace ----------------------------------------------------------------

def _batch(**overrides: Any) -> Batch:
    values: dict[str, Any] = dict(
        id=new_batch_id(), kind=OperationKind.FAILOVER, region="westeurope",
        status=BatchStatus.AWAITING_APPROVAL, requested_by="U_REQUESTER", reason="INC-9",
        channel_id="C_INCIDENT", created_at=T0, expires_at=T0 + timedelta(minutes=30),
        hub_count=2)
    values.update(overrides)
    return Batch(**values)


def test_a_batch_saves_by_compare_and_set_and_its_message_is_set_once(store: Store) -> None:
    batch = _batch()
    with store() as uow:
        uow.batches.add(batch)
        uow.commit()
    with store() as uow:
        decided = batch.approve(T0, "U_APPROVER").batch
        assert uow.batches.save(decided, batch.version)
        assert not uow.batches.save(batch.reject(T0, "U_OTHER").batch, batch.version)
        uow.batches.attach_message(batch.id, "171.1")
        uow.batches.attach_message(batch.id, "171.9")
        uow.commit()
    with store() as uow:
        stored = uow.batches.get(batch.id)
        assert stored is not None and stored.status is BatchStatus.APPROVED
        assert stored.message_ts == "171.1" and stored.version == batch.version + 1
        assert uow.batches.get("fb-missing") is None
        assert [b.id for b in uow.batches.due_for_expiry(T0 + timedelta(hours=1))] == []


def test_one_keeper_at_a_time_keeps_a_board_until_it_is_finished(store: Store) -> None:
    waiting = _batch(message_ts="171.1")  # posted, not decided: nothing to keep yet
    decided = _batch(status=BatchStatus.APPROVED, message_ts="171.2",
                     created_at=T0 + timedelta(minutes=1))
    with store() as uow:
        uow.batches.add(waiting)
        uow.batches.add(decided)
        uow.commit()

    with store() as uow:
        assert [b.id for b in uow.batches.claim_boards("a", T0, T0 + LEASE)] == [decided.id]
        assert uow.batches.claim_boards("b", T0, T0 + LEASE) == []
        uow.batches.board_shown(decided.id, "b", "other", T0, finished=False)  # not b's
        uow.batches.board_shown(decided.id, "a", "digest-1", T0, finished=False)
        assert uow.batches.board_digest(decided.id) == ("digest-1", T0)
        uow.batches.board_shown(decided.id, "a", "digest-2", T0, finished=True)
        assert uow.batches.claim_boards("b", T0, T0 + LEASE) == []  # finished
        uow.batches.reopen_board(decided.id)  # a retry: more to show
        assert [b.id for b in uow.batches.claim_boards("b", T0, T0 + LEASE)] == [decided.id]
        assert [b.id for b in uow.batches.recent()] == [decided.id, waiting.id]


def test_start_turns_are_an_interval_apart(store: Store) -> None:
    interval = timedelta(seconds=2)
    turns = []
    for _ in range(3):
        with store() as uow:
            turns.append(uow.pace.claim_next(interval, lambda: T0))
            uow.commit()
    with store() as uow:
        assert uow.pace.last_turn() == T0 + 2 * interval
    assert turns == [T0, T0 + interval, T0 + 2 * interval]


# -- drills (issue #23): the history people read, each hub's last drill --------------------------

def _drill(hub: str, hours: float, drill_id: str) -> Drill:
    return Drill(id=drill_id, hub=hub, channel_id="C_INCIDENT", requested_by="U_REQUESTER",
                 reason="rehearsal", created_at=T0 + timedelta(hours=hours),
                 failover_request_id=f"fr-{drill_id[3:]}", status=DrillStatus.DONE,
                 report={"legs": {"failover": {"ran": True, "to_active_s": 600.0}}})


def test_drill_history_is_newest_first_by_hub_and_since_and_each_hubs_last(
        store: Store) -> None:
    drills = [_drill("hub-a", 0, "dr-0a"), _drill("hub-b", 1, "dr-0b"),
              _drill("hub-a", 2, "dr-1a"), _drill("hub-c", -48, "dr-0c")]
    with store() as uow:
        for drill in drills:
            uow.drills.add(drill)
        uow.commit()
    with store() as uow:
        assert [d.id for d in uow.drills.history()] == ["dr-1a", "dr-0b", "dr-0a", "dr-0c"]
        assert [d.id for d in uow.drills.history("hub-a")] == ["dr-1a", "dr-0a"]
        assert [d.id for d in uow.drills.history(since=T0 + timedelta(hours=1))] == [
            "dr-1a", "dr-0b"]
        assert [d.id for d in uow.drills.history("hub-a", limit=1, since=T0)] == ["dr-1a"]
        latest = uow.drills.latest_per_hub()
    assert [(d.hub, d.id) for d in latest] == [("hub-a", "dr-1a"), ("hub-b", "dr-0b"),
                                               ("hub-c", "dr-0c")]
    assert latest[0].report == {"legs": {"failover": {"ran": True, "to_active_s": 600.0}}}
