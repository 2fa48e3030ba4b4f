"""Who may request, approve and cancel a failover, where, and when a request can be decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.model import HubRef, OperationKind
from bot.domain.policy import AccessPolicy, Actor, check_decidable
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import RefusalReason

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
ALICE = Actor("U0ALICE")
BOB = Actor("U0BOB")
ONCALL_MEMBER = Actor("U0CAROL", groups=frozenset({"S0ONCALL"}))


def request(status: RequestStatus = RequestStatus.AWAITING_APPROVAL, *,
            requested_by: str = ALICE.user_id, approved_by: str | None = None) -> FailoverRequest:
    return FailoverRequest(
        id="fr-0badc0de", hub=HubRef("contoso-prod", "sub-1", "rg-iot"),
        kind=OperationKind.FAILOVER, status=status, requested_by=requested_by,
        reason="INC-42", channel_id="C0INCIDENT", created_at=NOW, expires_at=NOW + TTL,
        region_before="westus2", region_target="westcentralus", approved_by=approved_by,
    )


# --- requesters and channels ----------------------------------------------------------------

def test_an_empty_policy_lets_anyone_request_anywhere() -> None:
    assert AccessPolicy().check_requester(ALICE, "C0ANY") is None


def test_requesters_are_matched_by_user_id() -> None:
    policy = AccessPolicy(requesters=frozenset({ALICE.user_id}))
    assert policy.check_requester(ALICE, "C0ANY") is None
    refusal = policy.check_requester(BOB, "C0ANY")
    assert refusal is not None
    assert refusal.reason is RefusalReason.NOT_REQUESTER
    assert "BOT_REQUESTERS" in refusal.message


def test_requesters_are_matched_by_user_group() -> None:
    policy = AccessPolicy(requesters=frozenset({"S0ONCALL"}))
    assert policy.check_requester(ONCALL_MEMBER, "C0ANY") is None
    assert policy.check_requester(ALICE, "C0ANY") is not None


def test_only_allowed_channels_take_requests() -> None:
    policy = AccessPolicy(channels=frozenset({"C0INCIDENT", "C0OPS"}))
    assert policy.check_requester(ALICE, "C0INCIDENT") is None
    refusal = policy.check_requester(ALICE, "C0RANDOM")
    assert refusal is not None
    assert refusal.reason is RefusalReason.CHANNEL_NOT_ALLOWED
    assert refusal.message == "Failovers are run from <#C0INCIDENT>, <#C0OPS> only."
    assert AccessPolicy().check_channel("C0RANDOM") is None


def test_the_channel_is_checked_before_the_person() -> None:
    policy = AccessPolicy(requesters=frozenset({"U0NOBODY"}), channels=frozenset({"C0OPS"}))
    refusal = policy.check_requester(ALICE, "C0RANDOM")
    assert refusal is not None
    assert refusal.reason is RefusalReason.CHANNEL_NOT_ALLOWED


def test_group_ids_are_the_configured_user_groups() -> None:
    policy = AccessPolicy(requesters=frozenset({"U0ALICE", "S0ONCALL"}),
                          approvers=frozenset({"S0LEADS", "U0BOB"}))
    assert policy.group_ids == {"S0ONCALL", "S0LEADS"}


# --- approvers ------------------------------------------------------------------------------

def test_with_no_approver_list_anyone_else_may_approve() -> None:
    assert AccessPolicy().check_approver(BOB, request()) is None


def test_approvers_are_matched_by_user_id_and_by_group() -> None:
    policy = AccessPolicy(approvers=frozenset({BOB.user_id, "S0ONCALL"}))
    assert policy.check_approver(BOB, request()) is None
    assert policy.check_approver(ONCALL_MEMBER, request()) is None
    refusal = policy.check_approver(Actor("U0MALLORY"), request())
    assert refusal is not None
    assert refusal.reason is RefusalReason.NOT_APPROVER
    assert "BOT_APPROVERS" in refusal.message


@pytest.mark.parametrize(
    "policy",
    [AccessPolicy(), AccessPolicy(approvers=frozenset({ALICE.user_id})),
     AccessPolicy(approvers=frozenset({"S0ONCALL"}))],
)
def test_the_requester_never_approves_their_own_request(policy: AccessPolicy) -> None:
    requester = Actor(ALICE.user_id, groups=frozenset({"S0ONCALL"}))
    refusal = policy.check_approver(requester, request())
    assert refusal is not None
    assert refusal.reason is RefusalReason.SELF_APPROVAL
    assert "second person" in refusal.message


# --- cancelling -----------------------------------------------------------------------------

def test_the_requester_and_approvers_may_cancel_and_nobody_else() -> None:
    policy = AccessPolicy(approvers=frozenset({"S0ONCALL"}))
    assert policy.check_canceller(ALICE, request()) is None
    assert policy.check_canceller(ONCALL_MEMBER, request()) is None
    refusal = policy.check_canceller(BOB, request())
    assert refusal is not None
    assert refusal.reason is RefusalReason.NOT_OWNER


# --- whether a request can still be decided -------------------------------------------------

def test_a_fresh_request_can_be_decided_until_it_expires() -> None:
    assert check_decidable(request(), NOW) is None
    assert check_decidable(request(), NOW + TTL - timedelta(microseconds=1)) is None


@pytest.mark.parametrize(
    ("status", "at"),
    [(RequestStatus.AWAITING_APPROVAL, NOW + TTL), (RequestStatus.EXPIRED, NOW)],
)
def test_an_expired_request_says_so(status: RequestStatus, at: datetime) -> None:
    refusal = check_decidable(request(status), at)
    assert refusal is not None
    assert refusal.reason is RefusalReason.EXPIRED
    assert refusal.message == "Request `fr-0badc0de` has expired; request the failover again."


def test_an_approved_request_says_who_approved_it() -> None:
    refusal = check_decidable(request(RequestStatus.APPROVED, approved_by=BOB.user_id), NOW)
    assert refusal is not None
    assert refusal.reason is RefusalReason.ALREADY_DECIDED
    # Neutral wording (issue #14): a second click is not an error.
    assert refusal.message == (
        "Request `fr-0badc0de` is already approved by <@U0BOB> — nothing to do (it is starting)."
    )


@pytest.mark.parametrize(
    ("status", "words"),
    [(RequestStatus.REJECTED, "is already rejected — nothing to do."),
     (RequestStatus.CANCELLED, "is already cancelled — nothing to do."),
     (RequestStatus.RUNNING, "is already approved — nothing to do (it is running)."),
     (RequestStatus.SUCCEEDED, "is already approved — nothing to do (it has succeeded).")],
)
def test_a_decided_request_says_what_happened(status: RequestStatus, words: str) -> None:
    refusal = check_decidable(request(status), NOW)
    assert refusal is not None
    assert refusal.reason is RefusalReason.ALREADY_DECIDED
    assert words in refusal.message
    assert "already running by" not in refusal.message
