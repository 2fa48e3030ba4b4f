"""ARM's read budget as one process spends it: polls spend without asking, looks wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.read_budget import ReadBudget

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_a_burst_is_spent_then_refilled_at_the_rate() -> None:
    budget = ReadBudget(per_second=10, burst=50, now=T0)
    assert budget.available(T0) == 50
    budget.spend(50, T0)
    assert budget.available(T0) == 0
    assert budget.available(T0 + timedelta(seconds=1)) == 10
    assert budget.available(T0 + timedelta(minutes=5)) == 50  # never more than the burst


def test_polls_may_overspend_and_then_looks_wait_until_it_is_paid_back() -> None:
    budget = ReadBudget(per_second=10, burst=20, now=T0)
    budget.spend(40, T0)  # a round of polls: they cannot wait
    assert budget.available(T0 + timedelta(seconds=1)) == 0
    assert budget.seconds_until(2, T0 + timedelta(seconds=1)) == pytest.approx(1.2)
    assert budget.available(T0 + timedelta(seconds=2.2)) == 2
    assert budget.spent == 40


def test_a_clock_going_back_refills_nothing() -> None:
    budget = ReadBudget(per_second=10, burst=20, now=T0)
    budget.spend(20, T0)
    assert budget.available(T0 - timedelta(seconds=30)) == 0


def test_a_budget_that_never_refills_is_refused() -> None:
    with pytest.raises(ValueError, match="refills"):
        ReadBudget(per_second=0, burst=10, now=T0)


def test_a_storm_of_polls_starves_looks_for_a_burst_at_most() -> None:
    budget = ReadBudget(per_second=10, burst=50, now=T0)
    budget.spend(10_000, T0)  # a thousand hubs polled at once, many times
    assert budget.spent == 10_000
    assert budget.seconds_until(2, T0) == pytest.approx(5.2)  # a burst, not 1,000 s
