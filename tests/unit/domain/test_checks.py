"""The checks a request passes before anyone is asked to approve it."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import HubRef, HubState, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import (
    RefusalReason,
    check_confirmation,
    check_direction,
    check_hub_name,
    check_open_request,
    check_ready,
)

NAME_CHARS = string.ascii_letters + string.digits + "-"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def hub(active: str = "westus2", *, state: str = "Active",
        provisioning: str = "Succeeded") -> HubState:
    return HubState(
        ref=HubRef("contoso-prod", "sub-1", "rg-iot"),
        home_region="West US 2",
        active_region=active,
        target_region="westcentralus" if active == "westus2" else "westus2",
        state=state,
        provisioning_state=provisioning,
    )


# --- hub names ------------------------------------------------------------------------------

@given(st.text(alphabet=NAME_CHARS, min_size=3, max_size=50))
def test_names_of_3_to_50_letters_digits_and_dashes_are_valid(name: str) -> None:
    assert check_hub_name(name) is None


@pytest.mark.parametrize(
    "name",
    ["", "ab", "a" * 51, "my hub", "my_hub", "hub.prod", "hüb-prod", "hub\n", " hub",
     "hub-٣٤٥", "ｈｕｂ"],
)
def test_other_names_are_refused_with_the_rule(name: str) -> None:
    refusal = check_hub_name(name)
    assert refusal is not None
    assert refusal.reason is RefusalReason.INVALID_HUB_NAME
    assert "3–50 letters, digits or `-`" in refusal.message
    assert refusal.allowed_at is None


def test_the_length_limits_are_inclusive() -> None:
    assert check_hub_name("abc") is None
    assert check_hub_name("a" * 50) is None


@given(st.text(max_size=500))
def test_a_refused_name_is_quoted_briefly(name: str) -> None:
    refusal = check_hub_name(name)
    if refusal is not None:
        assert len(refusal.message) < 150


# --- direction and readiness ----------------------------------------------------------------

def test_a_hub_at_home_may_fail_over_and_not_fail_back() -> None:
    at_home = hub("westus2")
    assert check_direction(OperationKind.FAILOVER, at_home) is None
    refusal = check_direction(OperationKind.FAILBACK, at_home)
    assert refusal is not None
    assert refusal.reason is RefusalReason.WRONG_DIRECTION
    assert refusal.message == (
        "`contoso-prod` is already in its home region (West US 2). "
        "Did you mean `/iothub failover contoso-prod`?"
    )


def test_a_hub_away_from_home_may_fail_back_and_not_fail_over() -> None:
    away = hub("westcentralus")
    assert check_direction(OperationKind.FAILBACK, away) is None
    refusal = check_direction(OperationKind.FAILOVER, away)
    assert refusal is not None
    assert refusal.message == (
        "`contoso-prod` is already running in its secondary region (West Central US). "
        "Did you mean `/iothub failback contoso-prod`?"
    )


def test_home_is_recognised_whatever_azure_spells_it() -> None:
    assert check_direction(OperationKind.FAILOVER, hub("West US 2")) is None


@pytest.mark.parametrize(("state", "provisioning"),
                         [("Active", "Succeeded"), ("active", "succeeded")])
def test_an_active_hub_is_ready(state: str, provisioning: str) -> None:
    assert check_ready(hub(state=state, provisioning=provisioning)) is None


@pytest.mark.parametrize(("state", "provisioning"),
                         [("Activating", "Succeeded"), ("Active", "Updating"),
                          ("FailingOver", "Succeeded"), ("Active", "Failed")])
def test_a_hub_in_transition_is_not_ready(state: str, provisioning: str) -> None:
    refusal = check_ready(hub(state=state, provisioning=provisioning))
    assert refusal is not None
    assert refusal.reason is RefusalReason.HUB_NOT_READY
    assert f"`{state}` (provisioning `{provisioning}`)" in refusal.message
    assert "Try again once it is Active" in refusal.message


# --- one open request per hub ---------------------------------------------------------------

def open_request(status: RequestStatus) -> FailoverRequest:
    return FailoverRequest(
        id="fr-1a2b3c4d", hub=HubRef("contoso-prod", "sub-1", "rg-iot"),
        kind=OperationKind.FAILOVER, status=status, requested_by="U111", reason="INC-42",
        channel_id="C1", created_at=NOW, expires_at=NOW + timedelta(minutes=30),
        region_before="westus2", region_target="westcentralus",
    )


def test_no_open_request_means_no_lock() -> None:
    assert check_open_request(None) is None


def test_a_request_awaiting_approval_locks_the_hub_until_it_expires() -> None:
    refusal = check_open_request(open_request(RequestStatus.AWAITING_APPROVAL))
    assert refusal is not None
    assert refusal.reason is RefusalReason.HUB_LOCKED
    assert refusal.allowed_at == NOW + timedelta(minutes=30)
    assert "`fr-1a2b3c4d`" in refusal.message
    # Wording changed (issue #14): says what waits, and carries the request for answers.
    assert "waiting for approval" in refusal.message and "requested by <@U111>" in refusal.message
    assert refusal.request is not None and refusal.request.id == "fr-1a2b3c4d"


def test_a_running_request_locks_the_hub_with_no_known_end() -> None:
    refusal = check_open_request(open_request(RequestStatus.RUNNING))
    assert refusal is not None
    assert refusal.allowed_at is None


# --- the modal's typed name and reason ------------------------------------------------------

def test_the_right_name_and_a_reason_pass() -> None:
    assert check_confirmation("contoso-prod", "contoso-prod", "INC-42 west us outage") == {}


def test_surrounding_whitespace_in_the_typed_name_is_tolerated() -> None:
    assert check_confirmation("contoso-prod", "  contoso-prod\n", "INC-42") == {}


def test_the_typed_name_is_case_insensitive_like_azure() -> None:  # issue #14
    assert check_confirmation("contoso-prod", " Contoso-PROD ", "INC-42") == {}


@pytest.mark.parametrize("typed", ["contoso-prd", "contoso prod", "", "contoso"])
def test_a_wrong_name_is_an_error_on_the_name_input(typed: str) -> None:
    errors = check_confirmation("contoso-prod", typed, "INC-42")
    assert set(errors) == {"confirm_hub_name"}
    assert errors["confirm_hub_name"].reason is RefusalReason.NAME_MISMATCH
    # Not the hint again (issue #14): the hint says what to type, the error what was wrong.
    assert errors["confirm_hub_name"].message.endswith("is not contoso-prod.")


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_an_empty_reason_is_an_error_on_the_reason_input(reason: str) -> None:
    errors = check_confirmation("contoso-prod", "contoso-prod", reason)
    assert set(errors) == {"reason"}
    assert errors["reason"].reason is RefusalReason.REASON_REQUIRED


def test_both_errors_are_reported_together() -> None:
    assert set(check_confirmation("contoso-prod", "x", "")) == {"confirm_hub_name", "reason"}
