"""Deciding: approve, reject, cancel, expire, and who may do which."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.domain.rules import RefusalReason
from bot.service import Submitted
from bot.store.base import AuditQuery
from tests.support.service_world import APPROVER, OUTSIDER, REQUESTER, World


def test_approval_rules_self_outsider_then_one_winner(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(REQUESTER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.SELF_APPROVAL)
    assert world.service.deciding.approve(OUTSIDER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.NOT_APPROVER)
    won = world.service.deciding.approve(APPROVER, request_id)
    assert won.ok and won.request.status is RequestStatus.APPROVED  # type: ignore[union-attr]
    again = world.service.deciding.approve(APPROVER, request_id)
    assert again.refusal.reason is RefusalReason.ALREADY_DECIDED  # type: ignore[union-attr]
    assert world.actions(request_id=request_id).count(AuditAction.APPROVED) == 1


def test_a_rejected_request_frees_the_hub_and_can_no_longer_be_approved(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.reject(OUTSIDER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.NOT_APPROVER)
    rejected = world.service.deciding.reject(APPROVER, request_id)
    assert rejected.ok and rejected.request.status is RequestStatus.REJECTED  # type: ignore[union-attr]
    assert world.service.deciding.approve(APPROVER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.ALREADY_DECIDED)
    assert world.actions(request_id=request_id).count(AuditAction.REJECTED) == 1
    assert isinstance(world.submit(), Submitted)  # the hub is free again


def test_a_request_expires_and_can_no_longer_be_approved(world: World) -> None:
    request_id = world.request_id()
    world.clock.advance(timedelta(minutes=31))
    assert world.service.deciding.approve(APPROVER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.EXPIRED)
    expired = world.service.deciding.expire_due()
    assert [r.id for r in expired] == [request_id]
    assert world.request(request_id).status is RequestStatus.EXPIRED
    assert isinstance(world.submit(), Submitted)  # the hub is free again


def test_cancel_by_requester_but_not_by_an_outsider(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.cancel(OUTSIDER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.NOT_OWNER)
    assert world.service.deciding.cancel(REQUESTER, request_id).ok
    assert world.service.deciding.approve(APPROVER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.ALREADY_DECIDED)
    assert world.request(request_id).status is RequestStatus.CANCELLED


@pytest.mark.parametrize("decide", ["approve", "reject", "cancel"])
def test_unknown_request_id_is_refused_and_audited(world: World, decide: str) -> None:
    decision = getattr(world.service.deciding, decide)(APPROVER, "fr-deadbeef")
    assert decision.request is None
    assert decision.refusal.reason is RefusalReason.NOT_FOUND
    events = world.service.reading.audit(AuditQuery(user=APPROVER.user_id))
    assert [(e.action, e.detail["reason"]) for e in events] == [
        (AuditAction.REFUSED, RefusalReason.NOT_FOUND.value)]
