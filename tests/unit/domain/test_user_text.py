"""What people type, cleaned once at the edge: nothing that hides text or that a UTF-8
encoder refuses survives, cleaning twice changes nothing, and what was removed is said."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.audit_words import detail_words
from bot.domain.model import AuditAction, AuditEvent
from bot.domain.names import closest_names, unmatched_names
from bot.domain.user_text import REASON_CHARS, Removed, clean, too_long

FORBIDDEN = [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
             *range(0x202A, 0x202F), *range(0x2066, 0x206A),
             *range(0x200B, 0x200E), 0x2060, 0xFEFF, *range(0xD800, 0xE000)]

# Any code point, surrogates included (as json.loads("\"\\ud800\"") gives them), with the
# forbidden ones and combining marks over-represented.
ANY_TEXT = st.text(st.one_of(
    st.characters(codec=None, categories=None, exclude_categories=()),
    st.sampled_from([chr(p) for p in FORBIDDEN]),
    st.sampled_from(["\u0301", "\u0308", "e", "\t", "\n", "A"]),
))


@given(ANY_TEXT)
def test_clean_text_holds_none_of_the_forbidden_characters_and_encodes(raw: str) -> None:
    text = clean(raw).text
    assert not {ord(c) for c in text} & set(FORBIDDEN)
    text.encode("utf-8")  # what PostgreSQL, SQLite and the JSON logs need
    assert unicodedata.is_normalized("NFC", text)


@given(ANY_TEXT)
def test_cleaning_is_idempotent(raw: str) -> None:
    once = clean(raw)
    twice = clean(once.text)
    assert twice.text == once.text and not twice.changed


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs"))))
def test_ordinary_nfc_text_is_left_as_it_is(raw: str) -> None:
    raw = unicodedata.normalize("NFC", raw)
    assert clean(raw).text == raw and not clean(raw).changed


def test_what_was_removed_is_counted_by_kind_with_its_code_points() -> None:
    cleaned = clean("a\u202eb\u200bc\x00d\ud800e\u202e")
    assert cleaned.text == "abcde"
    assert dict(cleaned.removed) == {Removed.BIDI: 2, Removed.ZERO_WIDTH: 1,
                                     Removed.CONTROL: 1, Removed.SURROGATE: 1}
    assert cleaned.changes() == ("removed 2 bidi controls, 1 control character, 1 lone "
                                 "surrogate, 1 zero-width character "
                                 "(U+202E U+200B U+0000 U+D800)")


def test_tab_and_newline_stay_and_decomposed_letters_are_composed() -> None:
    cleaned = clean("caf" + "e\u200b\u0301" + "\tok\n")
    assert cleaned.text == "caf\u00e9\tok\n"
    assert cleaned.normalised and cleaned.changes().endswith("; NFC-normalised")


def test_too_long_is_refused_in_words_not_cut() -> None:
    assert too_long("x" * REASON_CHARS, REASON_CHARS, "The reason") is None
    assert too_long("x" * 10_000, REASON_CHARS, "The reason") == (
        "The reason is 10,000 characters long; at most 1,000, please.")


@pytest.mark.parametrize(("typed", "meant"), [("rt-wus2-0O3", ["rt-wus2-003"]),
                                               ("RT-WUS2-OO3", ["rt-wus2-003"]),
                                               ("rt-wus2-l03", ["rt-wus2-103"])])
def test_a_look_alike_character_suggests_only_the_hub_it_looks_like(
        typed: str, meant: list[str]) -> None:
    known = [f"rt-wus2-{i:03d}" for i in range(200)]
    assert closest_names(typed, known) == meant


def test_unmatched_names_says_each_with_why_or_what_it_meant() -> None:
    eligible = ["weu-a", "weu-b"]
    message = unmatched_names("Leave out", ["WEU-A", "weu-aa", "weu-x", "zzz"], eligible,
                              {"weu-x": "no paired region"})
    assert message == ("Leave out: `weu-aa` matches no eligible hub (did you mean `weu-a`?); "
                       "`weu-x` is not eligible (no paired region); `zzz` matches no eligible "
                       "hub. Nothing was recorded: correct it and submit again.")
    assert unmatched_names("Leave out", ["WEU-A", "weu-b"], eligible, {}) is None


def test_unmatched_names_past_five_are_counted() -> None:
    message = unmatched_names("Leave out", [f"x{i}" for i in range(8)], ["weu-a"], {})
    assert message is not None and "; and 3 more." in message and "`x5`" not in message


def test_a_cleaned_event_reads_as_what_was_removed_from_which_input() -> None:
    event = AuditEvent(at=datetime(2026, 12, 6, tzinfo=UTC), action=AuditAction.CLEANED,
                       actor="U0ALICE", detail={"cleaned": {
                           "reason": clean("INC\u202e-42").changes()}})
    assert detail_words(event) == "cleaned reason: removed 1 bidi control (U+202E)"
