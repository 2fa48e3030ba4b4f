"""A failure retried four times a second is one line, then a count, then one line when it
stops (issue #24 item 9: 119 tracebacks in 30 s with the SQLite file deleted)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.store.base import StoreUnavailable
from bot.telemetry import configure_logging
from bot.telemetry.repeats import RepeatedFailure

ROUND = timedelta(seconds=0.25)  # the poller's idle tick at a 1 s poll interval
EVERY = timedelta(seconds=60)
log = logging.getLogger("bot.poller.poller")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def gone() -> StoreUnavailable:
    return StoreUnavailable("the database is unavailable: the SQLite database file "
                            "/data/bot.db was deleted while the bot was running\nsecond line")


def test_a_round_failing_for_two_minutes_is_one_line_a_count_a_minute_and_one_recovery(
        output: io.StringIO) -> None:
    clock = FakeClock()
    rounds = RepeatedFailure(log, "a poller round", clock, expected=(StoreUnavailable,),
                             every=EVERY)
    for _ in range(480):  # two minutes of rounds, four a second: a count at the minute
        rounds.failed(gone())
        clock.advance(ROUND)
    rounds.succeeded()
    rounds.succeeded()  # and on: nothing more to say

    said = lines(output)
    assert [(r["level"], r["message"]) for r in said] == [
        ("ERROR", "a poller round failed: StoreUnavailable: the database is unavailable: the "
                  "SQLite database file /data/bot.db was deleted while the bot was running; "
                  "trying again (repeats are counted, not logged)"),
        ("ERROR", "a poller round still failing: 240 more times in the last 60 s "
                  "(StoreUnavailable: the database is unavailable: the SQLite database file "
                  "/data/bot.db was deleted while the bot was running)"),
        ("WARNING", "a poller round works again, after 480 failures over 120 s"),
    ]
    assert not [r for r in said if "exc" in r]  # an expected failure: no traceback


def test_an_unexpected_failure_shows_its_traceback_once_and_a_new_kind_is_said_at_once(
        output: io.StringIO) -> None:
    clock = FakeClock()
    rounds = RepeatedFailure(log, "a poller round", clock, expected=(StoreUnavailable,),
                             every=EVERY)
    for _ in range(10):
        try:
            raise KeyError("hub")  # a bug: its traceback is what a developer needs
        except KeyError as exc:
            rounds.failed(exc)
        clock.advance(ROUND)
    rounds.failed(gone())  # another kind of failure: news, not a repeat
    clock.advance(ROUND)
    rounds.succeeded()

    said = lines(output)
    assert [r["message"].split(":")[0] for r in said] == [
        "a poller round failed", "a poller round failed", "a poller round works again, after 11 "
        "failures over 3 s"]
    assert "Traceback" in said[0]["exc"] and "KeyError" in said[0]["exc"]
    assert "exc" not in said[1] and "StoreUnavailable" in said[1]["message"]


def test_a_failure_after_a_recovery_is_said_again(output: io.StringIO) -> None:
    clock = FakeClock()
    rounds = RepeatedFailure(log, "renewing leases", clock, expected=(StoreUnavailable,))
    rounds.failed(gone())
    rounds.succeeded()
    clock.advance(ROUND)
    rounds.failed(gone())

    assert [r["message"][:22] for r in lines(output)] == [
        "renewing leases failed", "renewing leases works ", "renewing leases failed"]
