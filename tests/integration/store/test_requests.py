"""The SQL store's own behaviour of request rows (what the in-memory store does not claim:
the partial index on open requests, identity columns, bookkeeping without a version); what
both stores promise is ``test_store_contract.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import HubRef, OperationKind
from bot.domain.request import OPEN_STATUSES, FailoverRequest, RequestStatus
from bot.store.base import HubLocked
from bot.store.sql import SqlUnitOfWork

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # the new_request fixture's creation time
NewRequest = Callable[..., FailoverRequest]
UowFactory = Callable[[], SqlUnitOfWork]
AWAITING = RequestStatus.AWAITING_APPROVAL
APPROVED = RequestStatus.APPROVED
RUNNING = RequestStatus.RUNNING
SUCCEEDED = RequestStatus.SUCCEEDED


def add(uow_factory: UowFactory, *requests: FailoverRequest) -> None:
    with uow_factory() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


def test_the_unit_of_work_stays_usable_after_hub_locked(uow_factory: UowFactory,
                                                        new_request: NewRequest) -> None:
    first = new_request()
    add(uow_factory, first)
    refused = new_request()

    with uow_factory() as uow:
        with pytest.raises(HubLocked):
            uow.requests.add(refused)
        uow.announcements.attach_message(first.id, message_ts="1.2")
        uow.commit()

    with uow_factory() as uow:
        assert uow.requests.get(refused.id) is None
        assert uow.requests.get(first.id).message_ts == "1.2"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES))
def test_every_open_status_holds_the_hub(uow_factory: UowFactory, new_request: NewRequest,
                                         status: RequestStatus) -> None:
    add(uow_factory, new_request(status=status))
    with uow_factory() as uow, pytest.raises(HubLocked):
        uow.requests.add(new_request())


@pytest.mark.parametrize("end", [SUCCEEDED, RequestStatus.FAILED, RequestStatus.REJECTED,
                                 RequestStatus.EXPIRED, RequestStatus.CANCELLED])
def test_a_hub_opens_again_once_its_request_ends(uow_factory: UowFactory,
                                                 new_request: NewRequest,
                                                 end: RequestStatus) -> None:
    first = new_request()
    add(uow_factory, first)
    with uow_factory() as uow:
        assert uow.requests.save(first.evolve(status=end, version=2), first.version)
        uow.commit()

    second = new_request()
    add(uow_factory, second)
    with uow_factory() as uow:
        assert uow.requests.open_for_hub("contoso-hub") == second


def test_save_never_writes_identity_columns(uow_factory: UowFactory,
                                            new_request: NewRequest) -> None:
    request = new_request()
    add(uow_factory, request)
    approved = request.approve(T0, "U_APPROVER", T0).request
    elsewhere = approved.evolve(hub=HubRef("elsewhere", "sub", "rg"), requested_by="U_X")
    with uow_factory() as uow:
        assert uow.requests.save(elsewhere, request.version)
        uow.commit()
    with uow_factory() as uow:
        assert uow.requests.get(request.id) == approved


def test_bookkeeping_sets_columns_without_a_new_version(uow_factory: UowFactory,
                                                        new_request: NewRequest) -> None:
    request = new_request()
    add(uow_factory, request)
    with uow_factory() as uow:
        uow.announcements.attach_message(request.id, message_ts="171.1")
        uow.announcements.attach_message(request.id, status_message_ts="171.2")
        uow.leases.schedule_poll(request.id, T0)
        uow.commit()
    with uow_factory() as uow:
        assert uow.requests.get(request.id) == request.evolve(
            message_ts="171.1", status_message_ts="171.2", next_poll_at=T0)
        uow.announcements.attach_message("fr-missing", message_ts="1")  # nothing to change


def finished(new_request: NewRequest, *, kind: OperationKind, decided_min: int,
             status: RequestStatus = SUCCEEDED, duration_min: int = 10,
             hub: str = "contoso-hub") -> FailoverRequest:
    decided = T0 + timedelta(minutes=decided_min)
    return new_request(
        hub=hub, kind=kind, status=status, decided_at=decided, started_at=decided,
        completed_at=decided + timedelta(minutes=duration_min) if not status.is_open else None,
        created_at=decided - timedelta(minutes=1),
    )


def test_quota_counts_successful_and_in_flight_starts_of_one_kind(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    fo = OperationKind.FAILOVER
    add(uow_factory,
        finished(new_request, kind=fo, decided_min=-60 * 25),  # before the window
        finished(new_request, kind=fo, decided_min=10),
        finished(new_request, kind=fo, decided_min=20, status=RequestStatus.FAILED),
        finished(new_request, kind=OperationKind.FAILBACK, decided_min=30),
        finished(new_request, kind=fo, decided_min=40, hub="other-hub"),
        finished(new_request, kind=fo, decided_min=50, status=RUNNING))

    with uow_factory() as uow:
        starts = uow.requests.quota_starts("contoso-hub", fo, T0 - timedelta(hours=24))
    assert sorted(starts) == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=50)]


def test_last_completed_is_the_latest_success_of_that_kind(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    fo = OperationKind.FAILOVER
    with uow_factory() as uow:
        assert uow.requests.last_completed("contoso-hub", fo) is None
    add(uow_factory,
        finished(new_request, kind=fo, decided_min=0),
        finished(new_request, kind=fo, decided_min=100),
        finished(new_request, kind=fo, decided_min=200, status=RequestStatus.FAILED),
        finished(new_request, kind=OperationKind.FAILBACK, decided_min=300))

    with uow_factory() as uow:
        assert uow.requests.last_completed("contoso-hub", fo) == T0 + timedelta(minutes=110)


def test_recent_durations_and_recent_requests_are_newest_first(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    fo = OperationKind.FAILOVER
    old = finished(new_request, kind=fo, decided_min=0, duration_min=8)
    new = finished(new_request, kind=OperationKind.FAILBACK, decided_min=100, duration_min=12)
    failed = finished(new_request, kind=fo, decided_min=200, status=RequestStatus.FAILED)
    add(uow_factory, old, new, failed)

    with uow_factory() as uow:
        assert uow.requests.recent_durations("contoso-hub") == [timedelta(minutes=12),
                                                                timedelta(minutes=8)]
        assert [r.id for r in uow.requests.recent("contoso-hub", limit=2)] == [failed.id, new.id]
        assert uow.requests.recent("other-hub") == []


def test_due_for_expiry_lists_only_overdue_requests_awaiting_approval(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    overdue = new_request(hub="hub-a", expires_at=T0)
    later = new_request(hub="hub-b", expires_at=T0 + timedelta(hours=1))
    running = new_request(hub="hub-c", expires_at=T0, status=RUNNING)
    add(uow_factory, overdue, later, running)

    with uow_factory() as uow:
        assert uow.requests.due_for_expiry(T0 + timedelta(seconds=1)) == [overdue]
        assert uow.requests.due_for_expiry(T0 - timedelta(seconds=1)) == []


def test_unnotified_lists_requests_changed_since_their_last_notification(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    quiet, changed = new_request(hub="hub-a"), new_request(hub="hub-b")
    add(uow_factory, quiet, changed)
    with uow_factory() as uow:
        uow.announcements.mark_notified(quiet.id, 1)
        uow.announcements.mark_notified(changed.id, 1)
        uow.commit()
    with uow_factory() as uow:
        assert uow.announcements.unnotified() == []
        moved = changed.approve(T0, "U_APPROVER", T0).request
        assert uow.requests.save(moved, changed.version)
        uow.commit()

    with uow_factory() as uow:
        assert uow.announcements.unnotified() == [moved]
        # A late notifier for an older version does not undo a newer notification.
        uow.announcements.mark_notified(changed.id, 2)
        uow.announcements.mark_notified(changed.id, 1)
        uow.commit()
        assert uow.announcements.unnotified() == []
