"""Azure's daily limits and the failback cool-down, at the edges of their windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.domain.model import OperationKind
from bot.domain.rules import (
    Limits,
    QuotaWindow,
    RefusalReason,
    check_cooldown,
    check_quota,
    quota_remaining,
    window_start,
)

TICK = timedelta(microseconds=1)
DAY = timedelta(hours=24)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FAILOVER, FAILBACK = OperationKind.FAILOVER, OperationKind.FAILBACK

kinds = st.sampled_from(OperationKind)
windows = st.sampled_from(QuotaWindow)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
offsets = st.timezones() | st.sampled_from(
    [timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
     timezone(timedelta(hours=5, minutes=30))]
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[datetime, list[datetime]]:
    """A moment and the start times of earlier operations, some of them at the same instant."""
    now = draw(instants)
    ages = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
    starts = [now - age for age in draw(st.lists(ages, max_size=8))]
    starts += draw(st.lists(st.sampled_from(starts), max_size=2)) if starts else []
    return now, starts


def limits_for(kind: OperationKind, limit: int, window: QuotaWindow) -> Limits:
    if kind is FAILOVER:
        return Limits(failovers_per_day=limit, window=window)
    return Limits(failbacks_per_day=limit, window=window)


# --- the rolling 24-hour window (the default) ---------------------------------------------

def test_the_default_window_is_a_rolling_24_hours() -> None:
    assert Limits().window is QuotaWindow.ROLLING_24H


@given(kinds)
def test_an_operation_exactly_24h_old_still_counts_and_a_microsecond_later_not(
        kind: OperationKind) -> None:
    # Azure's boundary is not documented (the simulated fleet counts it): refuse, never be
    # refused.
    limits = Limits()
    starts = [NOW - DAY, NOW - timedelta(hours=1)]
    refusal = check_quota(starts, kind, NOW, limits)
    assert refusal is not None and refusal.allowed_at == NOW + TICK
    assert quota_remaining(starts, kind, NOW, limits) == 0
    assert check_quota(starts, kind, NOW + TICK, limits) is None
    assert quota_remaining(starts, kind, NOW + TICK, limits) == 1


@given(kinds)
def test_an_operation_a_microsecond_younger_still_counts(kind: OperationKind) -> None:
    starts = [NOW - DAY + TICK, NOW - timedelta(hours=1)]
    refusal = check_quota(starts, kind, NOW, Limits())
    assert refusal is not None
    assert refusal.reason is RefusalReason.QUOTA_EXHAUSTED
    assert refusal.allowed_at == NOW + 2 * TICK
    assert quota_remaining(starts, kind, NOW, Limits()) == 0


def test_rolling_quota_opens_when_the_oldest_counted_operation_is_24h_old() -> None:
    first, second = NOW - timedelta(hours=20), NOW - timedelta(hours=3)
    refusal = check_quota([first, second], FAILOVER, NOW, Limits())
    assert refusal is not None
    assert refusal.allowed_at == first + DAY + TICK
    assert "2 failovers per hub per day" in refusal.message
    assert check_quota([first, second], FAILOVER, first + DAY, Limits()) is not None
    assert check_quota([first, second], FAILOVER, first + DAY + TICK, Limits()) is None


def test_failovers_and_failbacks_have_their_own_limits() -> None:
    limits = Limits(failovers_per_day=2, failbacks_per_day=1)
    one = [NOW - timedelta(hours=1)]
    assert check_quota(one, FAILOVER, NOW, limits) is None
    assert check_quota(one, FAILBACK, NOW, limits) is not None


# --- the UTC calendar day -------------------------------------------------------------------

def test_utc_day_counts_from_midnight_utc() -> None:
    limits = Limits(window=QuotaWindow.UTC_DAY)
    midnight = datetime(2026, 11, 27, tzinfo=UTC)
    yesterday_late, today_early = midnight - TICK, midnight
    assert quota_remaining([yesterday_late, today_early], FAILOVER, NOW, limits) == 1
    refusal = check_quota([today_early, today_early], FAILOVER, NOW, limits)
    assert refusal is not None
    assert refusal.allowed_at == midnight + DAY


@given(offsets, kinds)
def test_utc_day_resets_at_midnight_utc_whatever_the_timezone(
    tz: tzinfo, kind: OperationKind
) -> None:
    limits = Limits(window=QuotaWindow.UTC_DAY)
    midnight = datetime(2026, 11, 28, tzinfo=UTC)
    starts = [midnight - timedelta(hours=2), midnight - timedelta(hours=1)]
    just_before = (midnight - TICK).astimezone(tz)
    refusal = check_quota(starts, kind, just_before, limits)
    assert refusal is not None
    assert refusal.allowed_at == midnight
    assert check_quota(starts, kind, midnight.astimezone(tz), limits) is None
    assert quota_remaining(starts, kind, midnight.astimezone(tz), limits) == 2


# --- properties over random histories, both windows ----------------------------------------

@given(histories(), kinds, windows, st.integers(min_value=1, max_value=4),
       st.lists(st.floats(min_value=0, max_value=1), min_size=4, max_size=4))
def test_allowed_at_is_the_earliest_instant_the_quota_allows(
    history: tuple[datetime, list[datetime]], kind: OperationKind, window: QuotaWindow,
    limit: int, fractions: list[float],
) -> None:
    now, starts = history
    limits = limits_for(kind, limit, window)
    # Enough operations inside the window that the quota is used up, whatever the history.
    since = window_start(now, window)
    starts = starts + [since + (now - since) * f for f in fractions[:limit]]
    refusal = check_quota(starts, kind, now, limits)
    assert refusal is not None and refusal.allowed_at is not None
    assert refusal.allowed_at > now
    assert check_quota(starts, kind, refusal.allowed_at - TICK, limits) is not None
    assert check_quota(starts, kind, refusal.allowed_at, limits) is None


@given(histories(), kinds, windows, st.integers(min_value=0, max_value=4))
def test_quota_remaining_agrees_with_check_quota(
    history: tuple[datetime, list[datetime]], kind: OperationKind, window: QuotaWindow,
    limit: int,
) -> None:
    now, starts = history
    limits = limits_for(kind, limit, window)
    remaining = quota_remaining(starts, kind, now, limits)
    assert 0 <= remaining <= limit
    assert (check_quota(starts, kind, now, limits) is None) == (remaining > 0)


@given(histories(), kinds, windows, st.integers(min_value=1, max_value=4))
def test_with_limit_operations_in_the_window_the_check_refuses(
    history: tuple[datetime, list[datetime]], kind: OperationKind, window: QuotaWindow,
    limit: int,
) -> None:
    now, older = history
    recent = [now - timedelta(minutes=i) for i in range(limit)]
    if window is QuotaWindow.UTC_DAY:
        assume(all(at.date() == now.date() for at in recent))
    refusal = check_quota(older + recent, kind, now, limits_for(kind, limit, window))
    assert refusal is not None
    assert refusal.reason is RefusalReason.QUOTA_EXHAUSTED


@pytest.mark.parametrize("window", list(QuotaWindow))
@pytest.mark.parametrize("kind", list(OperationKind))
def test_a_zero_limit_refuses_without_a_time_to_wait(
    kind: OperationKind, window: QuotaWindow
) -> None:
    refusal = check_quota([], kind, NOW, limits_for(kind, 0, window))
    assert refusal is not None
    assert refusal.allowed_at is None
    assert f"BOT_DAILY_{kind.value.upper()}_LIMIT=0" in refusal.message


# --- the failback cool-down -----------------------------------------------------------------

cooldowns = st.timedeltas(min_value=TICK, max_value=timedelta(hours=6))


@given(instants, cooldowns, st.floats(min_value=0, max_value=1))
def test_a_failback_is_refused_strictly_before_the_cooldown_ends(
    completed: datetime, cooldown: timedelta, fraction: float
) -> None:
    early_by = max(TICK, cooldown * fraction)  # somewhere in (0, cooldown]
    limits = Limits(failback_cooldown=cooldown)
    refusal = check_cooldown(FAILBACK, completed, completed + cooldown - early_by, limits)
    assert refusal is not None
    assert refusal.reason is RefusalReason.COOLDOWN
    assert refusal.allowed_at == completed + cooldown


@given(instants, cooldowns, st.timedeltas(min_value=timedelta(0), max_value=DAY))
def test_a_failback_is_allowed_at_and_after_the_cooldown(
    completed: datetime, cooldown: timedelta, late_by: timedelta
) -> None:
    limits = Limits(failback_cooldown=cooldown)
    assert check_cooldown(FAILBACK, completed, completed + cooldown + late_by, limits) is None


@given(instants, cooldowns, st.timedeltas(min_value=-DAY, max_value=DAY))
def test_the_cooldown_never_applies_to_a_failover(
    completed: datetime, cooldown: timedelta, offset: timedelta
) -> None:
    limits = Limits(failback_cooldown=cooldown)
    assert check_cooldown(FAILOVER, completed, completed + offset, limits) is None


def test_no_failover_yet_means_no_cooldown() -> None:
    assert check_cooldown(FAILBACK, None, NOW, Limits()) is None


def test_the_cooldown_message_says_how_long_and_how_long_ago() -> None:
    refusal = check_cooldown(FAILBACK, NOW - timedelta(minutes=20), NOW, Limits())
    assert refusal is not None
    assert refusal.allowed_at == NOW + timedelta(minutes=40)
    assert "wait 1h after a failover" in refusal.message
    assert "finished 20m ago" in refusal.message
