"""Durations as operators write them (``90``, ``30m``, ``1h30m``) and as the bot prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.audit_words import detail_words
from bot.domain.durations import humanize, minute_up, parse_duration
from bot.domain.model import AuditAction, AuditEvent, OperationKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90", timedelta(seconds=90)), ("90s", timedelta(seconds=90)),
     ("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
     ("1h30m", timedelta(hours=1, minutes=30)), ("2d", timedelta(days=2)),
     ("1.5h", timedelta(minutes=90)), (" 30M ", timedelta(minutes=30)),
     ("0", timedelta(0))],
)
def test_accepted_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["abc", "-5", "1x", "", "   ", "1h 30m", "h", "30m1", "1..5s"])
def test_other_forms_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"use seconds like 90, or 30m, 1h, 1h30m"):
        parse_duration(text)


def test_the_refusal_quotes_what_was_written() -> None:
    with pytest.raises(ValueError, match=r"^invalid duration 'abc' "):
        parse_duration("abc")


@pytest.mark.parametrize("text", ["99999999999d", "9" * 400])
def test_an_absurdly_long_duration_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration(text)


@given(st.text(max_size=40))
def test_parsing_anything_gives_a_duration_or_a_value_error(text: str) -> None:
    try:
        parsed = parse_duration(text)
    except ValueError:
        return
    assert parsed >= timedelta(0)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("smhd"))
def test_a_number_and_a_unit_parse(amount: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] * amount
    assert parse_duration(f"{amount}{unit}") == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("delta", "text"),
    [(timedelta(seconds=45), "45s"), (timedelta(minutes=5, seconds=3), "5m 3s"),
     (timedelta(minutes=40, seconds=3), "40m"), (timedelta(seconds=3725), "1h 2m"),
     (timedelta(hours=1), "1h"), (timedelta(days=2, hours=3), "2d 3h"),
     (timedelta(days=2), "2d"), (timedelta(0), "0s"), (timedelta(seconds=-30), "0s")],
)
def test_humanize(delta: timedelta, text: str) -> None:
    assert humanize(delta) == text


@given(st.timedeltas())
def test_humanize_never_raises_and_never_prints_nothing(delta: timedelta) -> None:
    assert humanize(delta)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=365)))
def test_humanized_durations_parse_back_to_within_their_precision(delta: timedelta) -> None:
    shown = parse_duration(humanize(delta).replace(" ", ""))
    assert shown <= delta
    assert delta - shown < max(timedelta(seconds=1), delta / 10)


def test_a_time_allowed_from_is_rounded_up_to_the_minute() -> None:
    at = datetime(2026, 12, 7, 5, 16, 57, 354318, tzinfo=UTC)
    assert minute_up(at) == datetime(2026, 12, 7, 5, 17, tzinfo=UTC)
    assert minute_up(at.replace(second=0, microsecond=0)) == at.replace(second=0, microsecond=0)


def test_the_audit_shows_when_allowed_again_as_people_read_it() -> None:
    event = AuditEvent(at=datetime(2026, 12, 6, 5, 16, tzinfo=UTC), action=AuditAction.REFUSED,
                       actor="U0ALICE", hub="contoso-hub", kind=OperationKind.FAILBACK,
                       detail={"message": "A failback must wait 1h after a failover.",
                               "allowed_at": "2026-12-07T05:16:57.354318+00:00"})
    assert detail_words(event) == ("A failback must wait 1h after a failover. "
                                   "Allowed again from 2026-12-07 05:17 UTC.")
