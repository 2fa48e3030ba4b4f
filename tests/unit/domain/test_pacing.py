"""The pace of batch starts shared by replicas: turns from one book (the store's row in
production, :class:`Book` here), let in by each replica's own :class:`StartPacer`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.pacing import TURN_AHEAD_LIMIT, Admitted, StartPacer, next_turn

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class Book:
    """The deployment's pace as the store keeps it: the last turn taken, and the claim."""

    def __init__(self) -> None:
        self.last: datetime | None = None

    def claim(self, interval: timedelta, now: datetime) -> datetime:
        self.last = next_turn(self.last, interval, now)
        return self.last


class StoreDown(Exception):
    pass


def test_the_next_turn_is_one_interval_after_the_last_or_now() -> None:
    assert next_turn(None, SECOND, T0) == T0
    assert next_turn(T0, SECOND, T0) == T0 + SECOND
    assert next_turn(T0 - 5 * SECOND, SECOND, T0) == T0  # long ago: no wait
    assert next_turn(T0 + 3 * SECOND, SECOND, T0) == T0 + 4 * SECOND


def test_a_turn_too_far_ahead_to_be_true_holds_no_start_back() -> None:
    """A clock that jumped (or a replica's far ahead) wrote it: believed, every start of the
    deployment would wait for it."""
    jumped = T0 + TURN_AHEAD_LIMIT + SECOND
    assert next_turn(jumped, SECOND, T0) == T0
    assert next_turn(T0 + TURN_AHEAD_LIMIT, SECOND, T0) == T0 + TURN_AHEAD_LIMIT + SECOND


def test_a_turn_another_replica_took_keeps_this_one_out_until_near_it() -> None:
    pacer = StartPacer(rate_per_minute=60, claim=Book().claim)
    back = pacer.admit(T0, taken=T0 + 5 * SECOND)  # another replica's POST goes at +5 s
    assert back == T0 + 5 * SECOND  # its own turn (+6 s) is then within the horizon
    assert isinstance(pacer.admit(T0 + 5 * SECOND, taken=T0 + 5 * SECOND), Admitted)


def test_replicas_sharing_the_book_start_one_interval_apart_and_none_is_starved() -> None:
    """Two replicas, every hub long overdue (the pods were paused): each lets in what fits
    its horizon, their turns interleave in the book, none comes twice in an interval."""
    book = Book()
    replicas = [StartPacer(rate_per_minute=60, claim=book.claim) for _ in range(2)]
    waiting = {0: list(range(6)), 1: list(range(6))}
    turns: list[datetime] = []
    waits: list[timedelta] = []
    now = T0 + timedelta(minutes=5)
    while waiting[0] or waiting[1]:
        admitted: list[Admitted] = []
        for replica, pacer in enumerate(replicas):  # both read the hub side by side
            for caller in list(waiting[replica]):
                answer = pacer.admit(now, taken=book.last)
                if isinstance(answer, Admitted):
                    waiting[replica].remove(caller)
                    admitted.append(answer)
        for one in admitted:  # then each takes its turn, right before its POST
            with one:
                turns.append(one.turn(now))
                waits.append(turns[-1] - now)
        now += timedelta(milliseconds=250)
    assert len(turns) == 12
    assert all(b - a >= SECOND for a, b in itertools.pairwise(sorted(turns)))
    # A replica cannot know the other's callers let in but not at their turn yet: a caller
    # may wait beyond the horizon, but not for ever.
    assert max(waits) <= 2 * (SECOND + SECOND)


def test_a_turn_that_cannot_be_claimed_gives_the_place_back() -> None:
    def unreachable(interval: timedelta, now: datetime) -> datetime:
        raise StoreDown

    pacer = StartPacer(rate_per_minute=60, claim=unreachable)
    admitted = pacer.admit(T0)
    assert isinstance(admitted, Admitted)
    with admitted, pytest.raises(StoreDown):
        admitted.turn(T0)
    assert isinstance(pacer.admit(T0), Admitted)
    assert isinstance(pacer.admit(T0), Admitted)  # its place was free again: two fit in 1 s


def test_this_process_own_pace_goes_on_after_the_shared_turns_it_took() -> None:
    """The fallback while the book is out of reach: after every turn seen, not from now."""
    book = Book()
    pacer = StartPacer(rate_per_minute=60, claim=book.claim)
    admitted = pacer.admit(T0)
    assert isinstance(admitted, Admitted)
    with admitted:
        assert admitted.turn(T0) == T0
    book.claim(pacer.interval, T0)  # another replica's, at T0 + 1 s
    pacer.admit(T0, taken=book.last)
    assert pacer.claim_here(pacer.interval, T0) == T0 + 2 * SECOND
