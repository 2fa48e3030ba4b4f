"""Directions, ownership and unexplained moves of the failovers Azure's Activity Log records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.history import (
    OWN_MATCH_TOLERANCE,
    ActivityOperation,
    Outcome,
    OwnStart,
    classify,
    infer_kinds,
    match_own,
    moved_unrecorded,
    outcome_of,
    sources,
)
from bot.domain.model import OperationKind

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
FAILOVER, FAILBACK = OperationKind.FAILOVER, OperationKind.FAILBACK
statuses = st.sampled_from(["Succeeded", "Failed", "Canceled", "Accepted"])


def op(i: int, status: str, at: datetime, caller: str = "oncall@contoso.com",
       client: str | None = "Azure portal") -> ActivityOperation:
    return ActivityOperation(f"op-{i}", f"corr-{i}", caller, at, status,
                             None if outcome_of(status) is Outcome.RUNNING else at, client)


@st.composite
def histories(draw: st.DrawFn) -> tuple[bool, list[ActivityOperation], list[OperationKind]]:
    """Where a hub ends up, its operations (spaced as Azure runs them: one at a time) and the
    direction each really had, played forward from a random start."""
    at_home = draw(st.booleans())
    gaps = draw(st.lists(st.integers(min_value=11, max_value=600), max_size=8))
    at = NOW - timedelta(days=2)
    ops, kinds = [], []
    for i, gap in enumerate(gaps):
        at += timedelta(minutes=gap)
        status = draw(statuses)
        ops.append(op(i, status, at))
        kinds.append(FAILOVER if at_home else FAILBACK)
        if status == "Succeeded":
            at_home = not at_home
    return at_home, ops, kinds


@given(histories(), st.randoms())
def test_directions_are_inferred_from_where_the_hub_is_now(history, rnd) -> None:
    at_home_now, ops, true_kinds = history
    shuffled = list(ops)
    rnd.shuffle(shuffled)  # Azure answers newest first; the order given must not matter

    inferred = infer_kinds(shuffled, at_home_now)

    assert [o for o, _ in inferred] == ops
    assert [k for _, k in inferred] == true_kinds


def test_failover_then_failback_then_a_failed_failover() -> None:
    ops = [op(1, "Succeeded", NOW - timedelta(hours=5)),
           op(2, "Succeeded", NOW - timedelta(hours=3)),
           op(3, "Failed", NOW - timedelta(hours=1))]
    assert [k for _, k in infer_kinds(ops, at_home_now=True)] == [FAILOVER, FAILBACK, FAILOVER]


def test_a_running_operation_goes_the_way_the_hub_can_go() -> None:
    ops = [op(1, "Succeeded", NOW - timedelta(hours=2)), op(2, "Accepted", NOW)]
    assert [k for _, k in infer_kinds(ops, at_home_now=False)] == [FAILOVER, FAILBACK]


@given(histories(), st.data())
def test_the_bots_own_operations_are_matched_once_and_never_counted_as_outside(
        history, data) -> None:
    at_home_now, ops, _ = history
    mine = data.draw(st.lists(st.sampled_from(ops), unique=True) if ops else st.just([]))
    skew = data.draw(st.lists(st.integers(min_value=-240, max_value=240),
                              min_size=len(mine), max_size=len(mine)))
    own = [OwnStart(f"fr-{o.operation_id}", o.started_at + timedelta(seconds=s))
           for o, s in zip(mine, skew, strict=True)]

    seen = classify(ops, own, at_home_now)

    assert {s.operation.operation_id: s.own for s in seen if s.own} == {
        o.operation_id: f"fr-{o.operation_id}" for o in mine}
    outside = [s for s in seen if s.outside]
    assert len(outside) + len(mine) == len(ops)


def test_a_stored_correlation_id_wins_over_time_proximity() -> None:
    ops = [op(1, "Succeeded", NOW), op(2, "Failed", NOW + timedelta(minutes=1))]
    own = [OwnStart("fr-a", NOW, correlation_id="CORR-2")]
    assert match_own(ops, own) == {"op-2": "fr-a"}


def test_an_own_start_too_far_from_any_operation_matches_nothing() -> None:
    ops = [op(1, "Succeeded", NOW)]
    own = [OwnStart("fr-a", NOW + OWN_MATCH_TOLERANCE + timedelta(seconds=1))]
    assert match_own(ops, own) == {}


@given(st.booleans(), histories(), st.integers(min_value=0, max_value=3))
def test_a_move_without_a_recorded_operation_is_flagged(at_home_then, history,
                                                         unrecorded) -> None:
    _, ops, _ = history
    moves = sum(o.outcome is Outcome.SUCCEEDED for o in ops)
    at_home_now = at_home_then != ((moves + unrecorded) % 2 == 1)

    flagged = moved_unrecorded(at_home_then, NOW - timedelta(days=3), at_home_now, ops)

    assert flagged is (unrecorded % 2 == 1)


def test_sources_name_this_bot_and_who_did_the_rest() -> None:
    ops = [op(1, "Succeeded", datetime(2026, 11, 27, 14, 2, tzinfo=UTC))]
    seen = classify(ops, [], at_home_now=False)
    assert sources(["fr-1a2b3c4d"], seen) == (
        "1 by this bot (fr-1a2b3c4d), 1 in the Azure portal by oncall@contoso.com at 14:02 UTC")
