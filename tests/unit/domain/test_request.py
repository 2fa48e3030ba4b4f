"""The request's life: every change is checked against the one transition table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import AuditAction, HubRef, OperationKind
from bot.domain.request import (
    OPEN_STATUSES,
    SYSTEM,
    TRANSITIONS,
    Change,
    FailoverRequest,
    RequestStatus,
    Transition,
    TransitionRefused,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=1)
REQUEST = FailoverRequest(
    id="fr-0001", hub=HubRef("contoso-weu", "sub", "rg"), kind=OperationKind.FAILOVER,
    status=RequestStatus.AWAITING_APPROVAL, requested_by="U_ALICE", reason="outage",
    channel_id="C1", created_at=T0, expires_at=T0 + timedelta(minutes=30),
    region_before="westeurope", region_target="northeurope")


def _apply(request: FailoverRequest, transition: Transition) -> Change:
    make = {
        Transition.APPROVE: lambda r: r.approve(LATER, "U_BOB", LATER),
        Transition.REJECT: lambda r: r.reject(LATER, "U_BOB", "not now"),
        Transition.CANCEL: lambda r: r.cancel(LATER, "U_ALICE"),
        Transition.EXPIRE: lambda r: r.expire(LATER),
        Transition.START: lambda r: r.start(LATER, LATER),
        Transition.POSTPONE: lambda r: r.postpone(LATER, LATER, code="Throttled",
                                                  error="busy", failures=1),
        Transition.RECORD_HANDLE: lambda r: r.record_handle("op-1"),
        Transition.SUCCEED: lambda r: r.succeed(LATER, "northeurope"),
        Transition.FAIL: lambda r: r.fail(LATER, "Boom", "it broke"),
        Transition.REFUSE_START: lambda r: r.refuse_start(LATER, "hub_changed", "moved"),
        Transition.SKIP: lambda r: r.skip(LATER, "already moved", "northeurope"),
        Transition.STOP: lambda r: r.stop(LATER, "U_BOB"),
    }[transition]
    return make(request)


@pytest.mark.parametrize("transition", list(Transition))
@pytest.mark.parametrize("status", list(RequestStatus))
def test_each_change_follows_the_transition_table(transition: Transition,
                                                  status: RequestStatus) -> None:
    request = REQUEST.evolve(status=status, version=3)
    allowed, target = TRANSITIONS[transition]
    if status not in allowed:
        with pytest.raises(TransitionRefused):
            _apply(request, transition)
        return
    changed, event = _apply(request, transition)
    assert changed.status is target
    assert changed.version == 4
    assert request.status is status  # the request itself is never changed
    if event is not None:
        assert (event.request_id, event.hub, event.kind) == (REQUEST.id, "contoso-weu",
                                                             OperationKind.FAILOVER)


def test_ends_allow_no_change() -> None:
    ends = set(RequestStatus) - OPEN_STATUSES
    assert all(not allowed & ends for allowed, _ in TRANSITIONS.values())


def test_approval_records_the_approver_and_when_to_start() -> None:
    approved, event = REQUEST.approve(LATER, "U_BOB", LATER + timedelta(seconds=30))
    assert (approved.approved_by, approved.decided_at) == ("U_BOB", LATER)
    assert approved.next_poll_at == LATER + timedelta(seconds=30)
    assert event is not None
    assert (event.action, event.actor, event.at, event.detail) == (
        AuditAction.APPROVED, "U_BOB", LATER, {})


def test_a_later_start_is_audited_as_a_retry_with_its_attempt() -> None:
    approved = REQUEST.evolve(status=RequestStatus.APPROVED)
    _, first = approved.start(LATER, LATER)
    _, again = approved.start(LATER, LATER, attempts_before=2)
    assert first is not None and again is not None
    assert (first.action, first.actor) == (AuditAction.STARTED, SYSTEM)
    assert first.detail == {"region_before": "westeurope", "region_target": "northeurope"}
    assert again.action is AuditAction.RETRY and again.detail["attempt"] == 3


def test_a_postponed_start_is_approved_again_and_not_started() -> None:
    running = REQUEST.evolve(status=RequestStatus.RUNNING, started_at=T0)
    again, event = running.postpone(LATER, LATER + timedelta(minutes=1), code="Throttled",
                                    error="busy", failures=2)
    assert (again.status, again.started_at) == (RequestStatus.APPROVED, None)
    assert event is not None and event.detail["start_postponed"] == "Throttled"


def test_success_records_the_duration() -> None:
    running = REQUEST.evolve(status=RequestStatus.RUNNING, started_at=T0)
    done, event = running.succeed(T0 + timedelta(minutes=7), "northeurope")
    assert done.duration == timedelta(minutes=7)
    assert event is not None and event.detail == {"region_after": "northeurope",
                                                  "duration_s": 420}


def test_a_refused_change_names_the_request_and_its_status() -> None:
    with pytest.raises(TransitionRefused, match="fr-0001: cannot start a request"):
        REQUEST.start(LATER, LATER)
