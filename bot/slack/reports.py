"""Ephemeral answers: hub status, the hub list, the audit table and help (pure builders)."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.audit_words import detail_words
from bot.domain.durations import humanize
from bot.domain.limit_warnings import speed_note
from bot.domain.model import AuditEvent, OperationKind
from bot.domain.request import RequestStatus
from bot.domain.rules import Refusal, RefusalReason
from bot.service import HubPage, HubStatus
from bot.slack.messages import outcome
from bot.slack.parsing import USAGE
from bot.slack.running import running_blocks
from bot.slack.text import clip, escape, region, said, user, when, when_allowed

AUDIT_PAGE_SIZE = 15


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, 3000))])


def help_blocks(problem: str | None = None) -> list[Block]:
    blocks: list[Block] = []
    if problem:
        blocks.append(SectionBlock(text=clip(f":grey_question: {escape(problem)}", 3000)))
    blocks.append(SectionBlock(text=USAGE))
    return blocks


def refusal_blocks(refusal: Refusal, now: datetime | None = None,
                   link: str | None = None) -> list[Block]:
    if refusal.request is not None:  # an operation is running or open: that comes first
        return running_blocks(refusal.request, now, link=link)
    icon = ":information_source:" if refusal.reason is RefusalReason.ALREADY_DECIDED \
        else ":no_entry:"
    blocks: list[Block] = [SectionBlock(text=clip(f"{icon} {said(refusal.message)}", 3000))]
    if refusal.allowed_at:
        blocks.append(_context(f"Allowed again from {when_allowed(refusal.allowed_at)}."))
    return blocks


def status_blocks(status: HubStatus, now: datetime | None = None,
                  link: str | None = None, time_scale: float = 1.0) -> list[Block]:
    """The hub's status; an open or running request comes first, and while one runs there is
    no "next operation" (one at a time). "Failback possible" only for a hub away from home."""
    hub = status.hub
    devices = f"{hub.device_count:,}" if hub.device_count is not None else "unknown"
    where = "home region" if hub.next_kind is OperationKind.FAILOVER else "paired region"
    quota = ", ".join(f"{left} {kind.value}{'s' if left != 1 else ''}"
                      for kind, left in status.quota_left.items())
    req = status.open_request
    ours = req is not None and req.status is not RequestStatus.AWAITING_APPROVAL
    # A hub Azure reports busy with no request of ours: something else (the portal) runs it.
    busy = ours or not hub.is_ready
    blocks: list[Block] = []
    if req is not None:
        blocks.extend(running_blocks(req, now, status.estimate, link))
    if not hub.is_ready and not ours:
        blocks.append(SectionBlock(text=clip(
            f":arrows_counterclockwise: *Azure reports `{hub.name}` as `{escape(hub.state)}`*: "
            "an operation this bot did not start is under way (the portal or the Azure CLI?). "
            f"Wait for it to end; `/iothub status {hub.name}` shows when it is Active again.",
            3000)))
    fields = [MarkdownTextObject(text=f"*Home region*\n{region(hub.home_region)}")]
    if not busy:
        fields.append(MarkdownTextObject(text=f"*Next operation*\n{hub.next_kind.value} to "
                                              f"{region(hub.target_region)}"))
    fields += [
        MarkdownTextObject(text=f"*Devices*\n{devices}"),
        MarkdownTextObject(text=f"*Estimated duration*\n{humanize(status.estimate)}"),
        MarkdownTextObject(text=f"*Left today*\n{quota}"),
    ]
    if not busy and hub.next_kind is OperationKind.FAILBACK:
        fields.append(MarkdownTextObject(text="*Failback possible*\n" + (
            when_allowed(status.failback_allowed_at) if status.failback_allowed_at else "now")))
    blocks += [
        SectionBlock(text=f"*`{hub.name}`* is active in *{region(hub.active_region)}* "
                          f"({where}); state `{escape(hub.state)}`."),
        SectionBlock(fields=fields),
    ]
    blocks.extend(_history_blocks(status))
    if status.drill:
        blocks.append(_context(clip(f":test_tube: {said(status.drill)}", 3000)))
    if status.last_verdict:
        blocks.append(_context(clip(f":stethoscope: Last verification: "
                                    f"{escape(status.last_verdict)}", 3000)))
    note = speed_note(time_scale)
    if note:
        blocks.append(_context(f":stopwatch: {note}"))
    shown = status.open_request.id if status.open_request else None
    for req in [r for r in status.recent if r.id != shown][:5]:  # the open one is above
        blocks.append(_context(f"`{req.id}` {req.kind.value} {when(req.created_at)} – "
                               f"{req.status.value.replace('_', ' ')}. {outcome(req)}"))
    return blocks


def _history_blocks(status: HubStatus) -> list[Block]:
    """Where the quota comes from, and what Azure did that nobody on record asked for."""
    blocks: list[Block] = []
    if status.moved_unrecorded:
        blocks.append(SectionBlock(text=(
            ":rotating_light: The active region changed *without any recorded operation* "
            "(not by this bot, and not in Azure's Activity Log): a Microsoft-initiated "
            "failover? Check the Azure Service Health page.")))
    if status.history_note:
        blocks.append(_context(f":warning: *Left today* is this bot's own count only: "
                               f"{status.history_note}."))
    lines = [f"{kind.value.capitalize()}s today: {detail}"
             for kind, detail in status.quota_detail.items() if detail and not
             status.history_note]
    if lines:
        blocks.append(_context("\n".join(lines)))
    return blocks


def hub_list_blocks(page: HubPage) -> list[Block]:
    if not page.hubs:
        return [SectionBlock(text="I can't see any IoT Hubs in the configured subscriptions.")]
    lines = [f"• `{h.name}` – active in *{region(h.active_region)}*"
             + ("" if h.next_kind is OperationKind.FAILOVER else " (failed over)")
             + ("" if h.is_ready else f", `{escape(h.state)}`")
             + (" :rotating_light: moved without a recorded operation"
                if h.name in page.moved_unrecorded else "") for h in page.hubs]
    blocks: list[Block] = [SectionBlock(text=clip("\n".join(lines), 3000))]
    footer = f"Page {page.page} of {page.pages} ({page.total} hubs)."
    if page.page < page.pages:
        footer += f" Next: `/iothub list {page.page + 1}`"
    blocks.append(_context(footer))
    return blocks


def audit_line(event: AuditEvent) -> str:
    what = event.action.value
    if event.kind:
        what += f" {event.kind.value}"
    parts = [when(event.at), f"*{what}*", user(event.actor)]
    if event.hub:
        parts.append(f"`{escape(event.hub)}`")
    if event.request_id:
        parts.append(f"`{escape(event.request_id)}`")
    elif event.batch_id:  # a regional batch's own event (its hubs' say their request)
        parts.append(f"batch `{escape(event.batch_id)}`")
    words = said(detail_words(event))
    line = " · ".join(parts)
    return clip(f"{line} – {words}" if words else line, 600)


def audit_blocks(events: list[AuditEvent], page: int, has_more: bool) -> list[Block]:
    """``events`` newest first; one context line each, so a page stays under 50 blocks."""
    if not events:
        return [SectionBlock(text="No audit events match." if page == 1 else
                             f"No audit events on page {page}.")]
    blocks: list[Block] = [SectionBlock(text=f"*Audit log*, newest first (page {page})")]
    blocks.extend(_context(audit_line(e)) for e in events[:AUDIT_PAGE_SIZE])
    if has_more:
        blocks.append(_context(f"More: add `--page {page + 1}`."))
    return blocks
