from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain.request import FailoverRequest, RequestStatus
from bot.store.sql import SqlUnitOfWork

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)
NewRequest = Callable[..., FailoverRequest]
UowFactory = Callable[[], SqlUnitOfWork]


def add_polled(uow: SqlUnitOfWork, request: FailoverRequest, next_poll_at: datetime) -> None:
    uow.requests.add(request)
    uow.leases.schedule_poll(request.id, next_poll_at)


def claim(uow_factory: UowFactory, owner: str, now: datetime, limit: int = 10) -> list[str]:
    with uow_factory() as uow:
        claimed = uow.leases.claim_due(owner, now, LEASE, limit)
        uow.commit()
    return [r.id for r in claimed]


def test_only_approved_or_running_requests_whose_poll_is_due_are_claimed(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    running = new_request(hub="hub-a", status=RequestStatus.RUNNING)
    approved = new_request(hub="hub-b", status=RequestStatus.APPROVED)
    later = new_request(hub="hub-c", status=RequestStatus.RUNNING)
    awaiting = new_request(hub="hub-d")
    done = new_request(hub="hub-e", status=RequestStatus.SUCCEEDED)
    unscheduled = new_request(hub="hub-f", status=RequestStatus.RUNNING)
    with uow_factory() as uow:
        add_polled(uow, running, T0)
        add_polled(uow, approved, T0 - timedelta(seconds=5))
        add_polled(uow, later, T0 + timedelta(seconds=1))
        add_polled(uow, awaiting, T0)
        add_polled(uow, done, T0)
        uow.announcements.mark_notified(done.id, done.version)  # its end was announced
        uow.requests.add(unscheduled)
        uow.commit()

    assert claim(uow_factory, "worker-1", T0) == [approved.id, running.id]
    with uow_factory() as uow:
        held = uow.leases.claim_due("worker-1", T0, LEASE, 10)
    assert held  # our own live lease does not stop us


def test_a_live_lease_blocks_others_and_an_expired_one_can_be_taken_over(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    request = new_request(status=RequestStatus.RUNNING)
    with uow_factory() as uow:
        add_polled(uow, request, T0)
        uow.commit()

    assert claim(uow_factory, "worker-1", T0) == [request.id]
    assert claim(uow_factory, "worker-2", T0 + LEASE - timedelta(seconds=1)) == []
    assert claim(uow_factory, "worker-2", T0 + LEASE) == [request.id]

    with uow_factory() as uow:
        assert not uow.leases.renew_lease(request.id, "worker-1", T0 + 3 * LEASE)
        assert uow.leases.renew_lease(request.id, "worker-2", T0 + 3 * LEASE)
        uow.commit()
    assert claim(uow_factory, "worker-1", T0 + 2 * LEASE) == []


def test_the_claim_limit_is_respected(uow_factory: UowFactory, new_request: NewRequest) -> None:
    with uow_factory() as uow:
        for i in range(5):
            add_polled(uow, new_request(hub=f"hub-{i}", status=RequestStatus.RUNNING), T0)
        uow.commit()

    assert len(claim(uow_factory, "worker-1", T0, limit=2)) == 2
    assert len(claim(uow_factory, "worker-2", T0, limit=10)) == 3


def test_releasing_a_lease_schedules_the_next_poll(uow_factory: UowFactory,
                                                    new_request: NewRequest) -> None:
    request = new_request(status=RequestStatus.RUNNING)
    with uow_factory() as uow:
        add_polled(uow, request, T0)
        uow.commit()
    claim(uow_factory, "worker-1", T0)
    next_poll = T0 + timedelta(seconds=30)

    with uow_factory() as uow:
        uow.leases.release_lease(request.id, "worker-2", T0)  # not ours: no effect
        uow.leases.release_lease(request.id, "worker-1", next_poll)
        uow.commit()

    assert claim(uow_factory, "worker-2", next_poll - timedelta(seconds=1)) == []
    assert claim(uow_factory, "worker-2", next_poll) == [request.id]


def test_a_finished_request_whose_end_was_never_announced_is_claimed_by_one_worker(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    owed = new_request(hub="hub-a", status=RequestStatus.SUCCEEDED)
    told = new_request(hub="hub-b", status=RequestStatus.FAILED)
    with uow_factory() as uow:
        uow.requests.add(owed)
        uow.requests.add(told)
        uow.announcements.mark_notified(told.id, told.version)
        uow.commit()

    assert claim(uow_factory, "worker-1", T0) == [owed.id]
    assert claim(uow_factory, "worker-2", T0) == []  # worker-1's lease is live
    assert claim(uow_factory, "worker-1", T0) == []  # already queued with its holder
    assert claim(uow_factory, "worker-2", T0 + LEASE) == [owed.id]  # the lease lapsed
