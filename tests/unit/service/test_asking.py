"""Asking: what the confirmation dialog shows, and the submission it leads to."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import AccessPolicy
from bot.domain.request import RequestStatus
from bot.domain.rules import Refusal, RefusalReason
from bot.service import FieldErrors, Preview, Submitted
from bot.store.base import AuditQuery
from tests.support.service_world import CHANNEL, HUB, REQUESTER, World


def test_preview_shows_target_region_estimate_and_quota(world: World) -> None:
    preview = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER)
    assert isinstance(preview, Preview)
    assert preview.hub.active_display == "North Europe"
    assert preview.hub.target_display == "West Europe"
    assert preview.hub.device_count == 50_000
    assert preview.quota_left == 2 and preview.quota_limit == 2
    assert timedelta(minutes=8) < preview.estimate < timedelta(minutes=15)


def test_failback_on_a_hub_at_home_asks_did_you_mean(world: World) -> None:
    refusal = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILBACK)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.WRONG_DIRECTION
    assert f"/iothub failover {HUB}" in refusal.message
    assert world.actions(hub=HUB) == [AuditAction.REFUSED]


@pytest.mark.parametrize(("name", "reason"), [
    ("no-such-hub", RefusalReason.HUB_NOT_FOUND),
    ("bad_name!", RefusalReason.INVALID_HUB_NAME),
])
def test_unknown_or_malformed_hub_is_refused_and_audited(world: World, name: str,
                                                         reason: RefusalReason) -> None:
    refusal = world.service.asking.preview(REQUESTER, CHANNEL, name, OperationKind.FAILOVER)
    assert isinstance(refusal, Refusal) and refusal.reason is reason
    events = world.service.reading.audit(AuditQuery(user=REQUESTER.user_id))
    assert [e.detail["reason"] for e in events] == [reason.value]


def test_wrong_typed_name_gives_inline_error_and_writes_no_request(world: World) -> None:
    result = world.submit(typed="contoso-wue", reason="")
    assert isinstance(result, FieldErrors)
    assert set(result.errors) == {"confirm_hub_name", "reason"}
    assert world.service.reading.status(HUB).open_request is None  # type: ignore[union-attr]
    assert world.actions(hub=HUB) == [AuditAction.REFUSED, AuditAction.REFUSED]


def test_second_request_for_a_hub_is_refused_while_one_is_open(world: World) -> None:
    first = world.request_id()
    second = world.submit()
    assert isinstance(second, Refusal)
    assert second.reason is RefusalReason.HUB_LOCKED
    assert first in second.message


def test_a_request_records_the_device_count_its_estimate_rests_on(world: World) -> None:
    result = world.submit()
    assert isinstance(result, Submitted)
    assert result.request.device_count == 50_000


def test_without_required_approval_a_confirmed_request_is_approved_at_once(
        world: World) -> None:
    world.service.access = AccessPolicy(require_approval=False)
    result = world.submit()
    assert isinstance(result, Submitted)
    assert result.request.status is RequestStatus.APPROVED
    assert world.service.starting.start(result.request.id).status is RequestStatus.RUNNING  # type: ignore[union-attr]
