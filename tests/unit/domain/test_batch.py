"""A regional batch's pure rules: start order, totals, the typed region, its decisions, and
the token bucket that paces its POSTs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.batch import (
    Batch,
    BatchRefused,
    BatchStatus,
    check_batch_decidable,
    check_region_confirmation,
    latest_per_hub,
    start_order,
    totals,
)
from bot.domain.model import AuditAction, HubRef, HubState, OperationKind, priority_from_tags
from bot.domain.pacing import Admitted, StartPacer, start_slots
from bot.domain.request import FailoverRequest, RequestStatus

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BATCH = Batch(id="fb-0a1b2c3d", kind=OperationKind.FAILOVER, region="westeurope",
              status=BatchStatus.AWAITING_APPROVAL, requested_by="U_ALICE", reason="INC-9",
              channel_id="C1", created_at=T0, expires_at=T0 + timedelta(minutes=30),
              hub_count=3)


def _hub(name: str, devices: int | None, priority: int | None = None) -> HubState:
    return HubState(HubRef(name, "sub", "rg"), "westeurope", "westeurope", "northeurope",
                    "Active", "Succeeded", device_count=devices, priority=priority)


def _member(hub: str, status: RequestStatus, at: datetime = T0,
            position: int = 0) -> FailoverRequest:
    return FailoverRequest(
        id=f"fr-{hub}-{at.minute}", hub=HubRef(hub, "sub", "rg"), kind=OperationKind.FAILOVER,
        status=status, requested_by="U_ALICE", reason="INC-9", channel_id="C1", created_at=at,
        expires_at=at, region_before="westeurope", region_target="northeurope",
        batch_id=BATCH.id, batch_position=position)


def test_tagged_hubs_go_first_then_the_largest() -> None:
    hubs = [_hub("small", 10), _hub("big", 2_000_000), _hub("tagged-2", 5, 2),
            _hub("tagged-1", 1, 1), _hub("unknown", None)]
    assert [h.name for h in start_order(hubs)] == ["tagged-1", "tagged-2", "big", "small",
                                                   "unknown"]


@pytest.mark.parametrize(("tags", "priority"), [
    ({"failover-priority": "1"}, 1), ({"failover-priority": " 20 "}, 20),
    ({"failover-priority": "high"}, None), ({}, None), (None, None)])
def test_the_priority_tag_is_read_as_a_number(tags: dict[str, str] | None,
                                              priority: int | None) -> None:
    assert priority_from_tags(tags) == priority


def test_totals_count_each_hub_once_by_its_latest_request() -> None:
    later = T0 + timedelta(minutes=5)
    members = [_member("a", RequestStatus.SUCCEEDED), _member("b", RequestStatus.FAILED),
               _member("b", RequestStatus.RUNNING, later),  # b's retry
               _member("c", RequestStatus.APPROVED), _member("d", RequestStatus.SKIPPED)]
    counted = totals(members)
    assert counted.total == 4 and counted.failed == 0 and counted.running == 1
    assert counted.summary() == "1 of 4 done · 1 running · 1 waiting · 1 skipped"
    assert not counted.finished
    assert [r.status for r in latest_per_hub(members) if r.hub.name == "b"] == [
        RequestStatus.RUNNING]


@pytest.mark.parametrize("typed", ["West Europe", "westeurope", "WEST EUROPE", " west europe "])
def test_the_region_may_be_typed_as_shown_or_as_its_short_name(typed: str) -> None:
    assert check_region_confirmation("westeurope", typed, "INC-9") == {}


def test_a_slip_of_the_region_and_a_missing_reason_are_refused_by_input() -> None:
    errors = check_region_confirmation("westeurope", "North Europe", " ")
    assert errors["confirm_region"].message == '"North Europe" is not West Europe.'
    assert set(errors) == {"confirm_region", "reason"}


def test_a_batch_is_decided_once() -> None:
    approved, event = BATCH.approve(T0, "U_BOB")
    assert approved.status is BatchStatus.APPROVED and approved.version == 2
    assert event.action is AuditAction.APPROVED and event.batch_id == BATCH.id
    with pytest.raises(BatchRefused):
        approved.reject(T0, "U_CAROL")
    refusal = check_batch_decidable(approved, T0)
    assert refusal is not None and "already approved by <@U_BOB> at 09:00 UTC" in refusal.message
    stopped, _ = approved.stop(T0, "U_ALICE", cancelled=2)
    with pytest.raises(BatchRefused):
        stopped.stop(T0, "U_BOB", cancelled=0)


def test_an_undecided_batch_expires() -> None:
    refusal = check_batch_decidable(BATCH, BATCH.expires_at)
    assert refusal is not None and "expired" in refusal.message


def go(pacer: StartPacer, now: datetime) -> datetime | None:
    """Admit, then take the turn at once: when the start went, or None if told to wait."""
    admitted = pacer.admit(now)
    if isinstance(admitted, datetime):
        return None
    with admitted:
        return admitted.turn(now)


def test_the_pacer_spaces_starts_one_interval_apart() -> None:
    pacer = StartPacer(rate_per_minute=60, horizon=timedelta(seconds=1))
    assert go(pacer, T0) == T0
    # Let in within the horizon, and its POST waits for the next interval.
    assert go(pacer, T0 + timedelta(milliseconds=200)) == T0 + timedelta(seconds=1)
    assert go(pacer, T0 + timedelta(seconds=5)) == T0 + timedelta(seconds=5)


def test_a_caller_whose_turn_is_beyond_the_horizon_is_told_when_to_come_back() -> None:
    pacer = StartPacer(rate_per_minute=6, horizon=timedelta(seconds=1))  # ten seconds apart
    assert go(pacer, T0) == T0
    back = pacer.admit(T0 + timedelta(seconds=1))
    assert back == T0 + timedelta(seconds=9)  # its turn (10 s) is then within the horizon
    assert go(pacer, T0 + timedelta(seconds=9)) == T0 + timedelta(seconds=10)


def test_callers_let_in_together_take_successive_turns_and_the_rest_come_back() -> None:
    """Several hubs late at once (the poller was away): as many as fit in the horizon read
    the hub side by side; their POSTs still go one interval apart."""
    pacer = StartPacer(rate_per_minute=600, horizon=timedelta(seconds=1))  # 100 ms apart
    answers = [pacer.admit(T0) for _ in range(15)]
    admitted = [a for a in answers if isinstance(a, Admitted)]
    assert len(admitted) == 11  # turns at 0, 0.1 … 1.0 s
    assert all(isinstance(a, datetime) and a > T0 for a in answers[11:])
    turns = [a.turn(T0 + timedelta(milliseconds=250)) for a in admitted]
    assert turns[0] == T0 + timedelta(milliseconds=250)
    assert all(b - a == timedelta(milliseconds=100) for a, b in itertools.pairwise(turns))


def test_a_caller_let_in_that_does_not_start_gives_its_place_back() -> None:
    pacer = StartPacer(rate_per_minute=60, horizon=timedelta(seconds=1))
    assert go(pacer, T0) == T0
    admitted = pacer.admit(T0)
    assert isinstance(admitted, Admitted)
    with admitted:  # the hub had moved meanwhile: no POST, no turn taken
        pass
    assert go(pacer, T0 + timedelta(seconds=1)) == T0 + timedelta(seconds=1)
    assert isinstance(pacer.admit(T0 + timedelta(seconds=1)), Admitted)


def test_callers_late_together_all_go_and_none_is_starved() -> None:
    pacer = StartPacer(rate_per_minute=60, horizon=timedelta(seconds=1))
    waiting, gone, now = list(range(5)), [], T0 + timedelta(minutes=5)
    while waiting:
        for caller in list(waiting):
            went = go(pacer, now)
            if went is not None:
                waiting.remove(caller)
                gone.append(went)
        now += timedelta(milliseconds=250)
    assert len(gone) == 5
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(gone))


def test_start_slots_are_spread_at_the_rate() -> None:
    assert start_slots(3, T0, 30) == [T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)]
