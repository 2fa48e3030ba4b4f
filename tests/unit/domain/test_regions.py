"""Region names compare the way Azure compares them: ``"West US 2"`` is ``"westus2"``."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import OperationKind, decide_kind
from bot.domain.regions import _DISPLAY_NAMES, display_name, region_key, same_region

# Region names are ASCII; ``str.lower`` of arbitrary Unicode (``"ß".upper() == "SS"``) is not
# what Azure compares.
region_text = st.text(alphabet=string.ascii_letters + string.digits + " -_.", max_size=30)
known_region = st.sampled_from(_DISPLAY_NAMES)
noise = st.text(alphabet=" -_.,/()", max_size=3)


def respell(name: str, data: st.DataObject) -> str:
    """The same region as a person might type it: any case, spaces and punctuation moved."""
    out = []
    for char in name:
        if char == " ":
            continue
        out.append(data.draw(noise))
        out.append(char.upper() if data.draw(st.booleans()) else char.lower())
    out.append(data.draw(noise))
    return "".join(out)


@given(region_text)
def test_a_region_is_the_same_as_itself(name: str) -> None:
    assert same_region(name, name)


@given(region_text, region_text)
def test_same_region_is_symmetric(a: str, b: str) -> None:
    assert same_region(a, b) == same_region(b, a)


@given(region_text)
def test_case_does_not_matter(name: str) -> None:
    assert same_region(name, name.upper())
    assert same_region(name.lower(), name.swapcase())


@given(known_region, st.data())
def test_spaces_punctuation_and_case_do_not_matter(name: str, data: st.DataObject) -> None:
    assert same_region(name, respell(name, data))


@given(known_region, known_region)
def test_different_known_regions_are_different(a: str, b: str) -> None:
    assert same_region(a, b) == (a == b)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("West US 2", "westus2"), ("west-us-2", "WestUS2"), ("UK South", "uksouth"),
     ("USGov Virginia", "usgovvirginia"), ("Australia Central 2", "australiacentral2")],
)
def test_display_and_canonical_spellings_match(typed: str, canonical: str) -> None:
    assert same_region(typed, canonical)
    assert region_key(typed) == canonical.lower()


def test_a_trailing_digit_makes_another_region() -> None:
    assert not same_region("West US", "West US 2")
    assert not same_region("eastus", "eastus2")


@given(known_region)
def test_display_name_round_trips_known_regions(name: str) -> None:
    assert display_name(name) == name
    assert display_name(region_key(name)) == name
    assert display_name(name.upper()) == name


@given(known_region, st.data())
def test_display_name_of_any_spelling_is_azures(name: str, data: st.DataObject) -> None:
    assert display_name(respell(name, data)) == name


def test_display_name_leaves_unknown_regions_as_written() -> None:
    assert display_name("marsnorth") == "marsnorth"
    assert display_name("Mars North 1") == "Mars North 1"


@given(known_region, st.data())
def test_a_hub_at_home_fails_over_under_any_spelling(name: str, data: st.DataObject) -> None:
    assert decide_kind(name, respell(name, data)) is OperationKind.FAILOVER
    assert decide_kind(region_key(name), name) is OperationKind.FAILOVER


@given(known_region, known_region, st.data())
def test_a_hub_away_from_home_fails_back(home: str, active: str, data: st.DataObject) -> None:
    expected = OperationKind.FAILOVER if home == active else OperationKind.FAILBACK
    assert decide_kind(home, respell(active, data)) is expected


def test_decide_kind_on_the_documented_pair() -> None:
    assert decide_kind("West US 2", "westus2") is OperationKind.FAILOVER
    assert decide_kind("West US 2", "westcentralus") is OperationKind.FAILBACK
