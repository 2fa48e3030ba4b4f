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
from bot.domain.pacing import TokenBucket, start_slots
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


def test_the_bucket_lets_one_caller_go_per_interval() -> None:
    bucket = TokenBucket(rate_per_minute=6)  # one every ten seconds
    assert bucket.take(T0) is None
    later = T0 + timedelta(seconds=10)
    assert [bucket.take(T0 + timedelta(seconds=s)) for s in (1, 9)] == [later, later]
    assert bucket.take(later) is None  # whoever comes first when it is free
    assert bucket.take(later) == later + timedelta(seconds=10)


def test_callers_late_together_go_one_interval_apart_and_none_is_starved() -> None:
    bucket = TokenBucket(rate_per_minute=60)
    late = T0 + timedelta(minutes=5)
    waiting, gone, now = list(range(5)), [], late
    while waiting:
        for caller in list(waiting):
            if bucket.take(now) is None:
                waiting.remove(caller)
                gone.append(now)
        now += timedelta(milliseconds=250)
    assert len(gone) == 5
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(gone))


def test_the_bucket_lets_a_burst_go_at_once_and_no_more() -> None:
    bucket = TokenBucket(rate_per_minute=60, burst=2)
    assert [bucket.take(T0) for _ in range(3)] == [None, None, T0 + timedelta(seconds=1)]


def test_start_slots_are_spread_at_the_rate() -> None:
    assert start_slots(3, T0, 30) == [T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=4)]
