"""Every view and message the bot builds passes slack_sdk's Block Kit validation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain.model import AuditAction, AuditEvent, HubRef, HubState, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, RefusalReason
from bot.notifications import CompletionReport, Milestone, ProgressUpdate
from bot.service import AUTO_APPROVER, HubPage, HubStatus, Preview
from bot.slack import messages, modals, reports

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LONG = "INC-42 <!channel> & <https://evil|click> " + "x" * 3000
REF = HubRef("h" * 50, "sub", "rg")
HUB = HubState(REF, "westeurope", "westeurope", "northeurope", "Active", "Succeeded",
               event_hub_endpoint="sb://" + "e" * 200 + ".servicebus.windows.net/",
               device_count=5_000_000)
AWAY = HubState(REF, "westeurope", "northeurope", "westeurope", "Activating", "Failing")
REQUEST = FailoverRequest(
    id="fr-1a2b3c4d", hub=REF, kind=OperationKind.FAILOVER,
    status=RequestStatus.AWAITING_APPROVAL, requested_by="U0ALICE", reason=LONG[:1000],
    channel_id="C0INCIDENT", created_at=T0, expires_at=T0 + timedelta(minutes=30),
    region_before="westeurope", region_target="northeurope", device_count=1200)
REFUSAL = Refusal(RefusalReason.QUOTA_EXHAUSTED, LONG, T0 + timedelta(hours=3))


def _requests() -> Iterator[FailoverRequest]:
    for status in RequestStatus:
        yield REQUEST.evolve(status=status, approved_by="U0BOB", decided_at=T0,
                             started_at=T0, completed_at=T0 + timedelta(minutes=9),
                             region_after="northeurope", error_code="Conflict",
                             error_message=LONG)
    yield REQUEST.evolve(status=RequestStatus.APPROVED, approved_by=AUTO_APPROVER)
    yield REQUEST.evolve(kind=OperationKind.FAILBACK, device_count=None, reason="")


def _events(n: int) -> list[AuditEvent]:
    return [AuditEvent(at=T0, action=action, actor="U0BOB", hub=REF.name,
                       request_id=REQUEST.id, kind=OperationKind.FAILOVER,
                       detail={"reason": LONG, "message": LONG})
            for action, _ in zip(list(AuditAction) * 5, range(n), strict=False)]


def _views() -> Iterator[View]:
    context = modals.ModalContext(REF.name, OperationKind.FAILOVER, "C0INCIDENT", "westeurope")
    yield modals.loading_modal(context)
    yield modals.submitting_modal(context)
    yield modals.refusal_modal(context, REFUSAL)
    yield modals.refusal_modal(context, Refusal(RefusalReason.NOT_APPROVER, "no"))
    yield modals.error_modal(context, LONG)
    for request in _requests():
        yield modals.submitted_modal(context, request)
        yield modals.submitted_modal(context, request, "not_in_channel")
    for kind in OperationKind:
        for cooldown in (None, T0):
            yield modals.confirm_modal(context, Preview(HUB, kind, timedelta(hours=2), 0, 2,
                                                        cooldown))
    yield modals.confirm_modal(context, Preview(AWAY, OperationKind.FAILBACK,
                                                timedelta(0), 2, 2, None))


def _messages() -> Iterator[list[Block]]:
    for request in _requests():
        yield messages.request_blocks(request)
        for hub in (HUB, None):
            yield messages.completion_blocks(CompletionReport(request, hub, 1, T0))
            yield messages.completion_blocks(CompletionReport(request, hub, 0, None))
    yield reports.help_blocks()
    yield reports.help_blocks(LONG)
    yield reports.refusal_blocks(REFUSAL)
    recent = list(_requests())
    for hub, open_request in ((HUB, REQUEST), (AWAY, None)):
        yield reports.status_blocks(HubStatus(
            hub, {k: 1 for k in OperationKind}, T0, open_request, recent, timedelta(minutes=8)))
    yield reports.hub_list_blocks(HubPage([], 1, 1, 0))
    yield reports.hub_list_blocks(HubPage([HUB, AWAY] * 10, 2, 9, 170))
    yield reports.audit_blocks([], 1, False)
    yield reports.audit_blocks([], 3, False)
    yield reports.audit_blocks(_events(reports.AUDIT_PAGE_SIZE + 1), 1, True)


def _texts() -> Iterator[str]:
    for request in _requests():
        yield messages.request_text(request)
        yield messages.outcome(request)
        for milestone in (None, *Milestone):
            update = ProgressUpdate(request, timedelta(minutes=3), timedelta(minutes=8),
                                    milestone)
            yield messages.progress_text(update)
            yield messages.milestone_text(update)


@pytest.mark.parametrize("view", list(_views()), ids=lambda v: v.title.text if v.title else "")
def test_every_view_validates(view: View) -> None:
    data = view.to_dict()
    View(**data).validate_json()
    assert len(data["blocks"]) <= 100 and len(data["private_metadata"]) <= 3000


@pytest.mark.parametrize("blocks", list(_messages()))
def test_every_message_validates(blocks: list[Block]) -> None:
    data = [b.to_dict() for b in blocks]
    assert 0 < len(data) <= 50
    for raw in data:
        parsed = Block.parse(raw)
        assert parsed is not None and type(parsed) is not Block
        parsed.validate_json()


def test_user_text_cannot_mention_the_channel_or_inject_links() -> None:
    shown = str([b.to_dict() for b in messages.request_blocks(REQUEST)])
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert "<https://evil" not in shown


def test_plain_texts_are_short_and_never_empty() -> None:
    for text in _texts():
        assert 0 < len(text) <= 3000


def test_approval_buttons_carry_the_request_id_and_a_confirm_dialog() -> None:
    actions = [b for b in messages.request_blocks(REQUEST) if b.type == "actions"]
    elements = [e.to_dict() for e in actions[0].elements]  # type: ignore[attr-defined]
    assert {(e["action_id"], e["value"]) for e in elements} == {
        ("approve", REQUEST.id), ("reject", REQUEST.id)}
    assert all("confirm" in e for e in elements)
