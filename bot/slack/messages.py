"""Channel messages: the approval message in each of its states, progress and completion."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.durations import humanize
from bot.domain.model import OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.notifications import CompletionReport, Milestone, ProgressUpdate
from bot.service import AUTO_APPROVER
from bot.slack.after_move_blocks import plan_blocks
from bot.slack.drill_blocks import approval_note
from bot.slack.text import clip, escape, region, took, user, when, when_allowed

APPROVE = "approve"  # action_id (contract); value = request id
REJECT = "reject"  # action_id (contract); value = request id


_ICONS = {
    RequestStatus.AWAITING_APPROVAL: ":raised_hand:",
    RequestStatus.APPROVED: ":white_check_mark:",
    RequestStatus.RUNNING: ":arrows_counterclockwise:",
    RequestStatus.SUCCEEDED: ":large_green_circle:",
    RequestStatus.FAILED: ":red_circle:",
    RequestStatus.REJECTED: ":no_entry_sign:",
    RequestStatus.EXPIRED: ":hourglass:",
    RequestStatus.CANCELLED: ":heavy_multiplication_x:",
    RequestStatus.SKIPPED: ":fast_forward:",
}


def _what(request: FailoverRequest) -> str:
    verb = "Fail over" if request.kind is OperationKind.FAILOVER else "Fail back"
    return (f"{verb} `{request.hub.name}` from *{region(request.region_before)}* "
            f"to *{region(request.region_target)}*")


def request_text(request: FailoverRequest) -> str:
    """The plain notification text (also the fallback for the blocks)."""
    state = request.status.value.replace("_", " ")
    return f"{request.kind.value.capitalize()} of {request.hub.name} ({request.id}): {state}"


def request_blocks(request: FailoverRequest) -> list[Block]:
    """The approval message; buttons only while the request awaits a decision."""
    fields = [
        MarkdownTextObject(text=f"*Requested by*\n{user(request.requested_by)}"),
        MarkdownTextObject(text=f"*Request*\n`{request.id}`"),
        MarkdownTextObject(text=f"*Requested*\n{when(request.created_at)}"),
    ]
    if request.device_count is not None:
        fields.append(MarkdownTextObject(text=f"*Devices*\n{request.device_count:,}"))
    blocks: list[Block] = [
        SectionBlock(text=f"{_ICONS[request.status]} {_what(request)}"),
        SectionBlock(fields=fields),
        SectionBlock(text=clip(f"*Reason*\n{escape(request.reason) or '–'}", 3000)),
        *plan_blocks(request.consumers,
                     approving=request.status is RequestStatus.AWAITING_APPROVAL),
        *approval_note(request),
    ]
    if request.status is RequestStatus.AWAITING_APPROVAL:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Needs a second person's approval. Expires {when(request.expires_at)}. "
                 "The Event Hub-compatible endpoint will change.")]))
        blocks.append(ActionsBlock(block_id="decision", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=request.id, style="primary",
                          confirm=ConfirmObject(
                              title="Approve this request?",
                              text=f"{_what(request)}. This starts at once.",
                              confirm="Approve", deny="Not yet")),
            ButtonElement(text="Reject", action_id=REJECT, value=request.id, style="danger",
                          confirm=ConfirmObject(title="Reject this request?",
                                                text="The requester will have to ask again.",
                                                confirm="Reject", deny="Keep it")),
        ]))
    else:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=outcome(request))]))
    return blocks


def outcome(request: FailoverRequest) -> str:
    """One line saying who decided what, and how it ended."""
    decided = f" {when(request.decided_at)}" if request.decided_at else ""
    status = request.status
    if status is RequestStatus.AWAITING_APPROVAL:
        return f"Waiting for approval; expires {when(request.expires_at)}."
    if request.approved_by == AUTO_APPROVER:
        line = "Approved automatically (BOT_REQUIRE_APPROVAL=false)."
    elif status is RequestStatus.REJECTED:
        return f"Rejected by {user(request.approved_by)}{decided}. Nothing was started."
    elif status is RequestStatus.CANCELLED and request.approved_by == request.requested_by:
        return (f"Cancelled by {user(request.approved_by)} (the requester){decided}. "
                "Nothing was started.")
    elif status is RequestStatus.CANCELLED:
        return f"Cancelled by {user(request.approved_by)}{decided}. Nothing was started."
    elif status is RequestStatus.EXPIRED:
        return f"Expired{decided} without a decision. Nothing was started."
    elif status is RequestStatus.SKIPPED:
        return f"Skipped: {escape(clip(request.error_message or 'nothing to do', 500))}"
    else:
        line = f"Approved by {user(request.approved_by)}{decided}."
    # Running only once Azure accepted it (its handle is stored); until then, still starting.
    if status is RequestStatus.APPROVED or (status is RequestStatus.RUNNING
                                            and not request.operation_handle):
        return f"{line} Starting…"
    if status is RequestStatus.RUNNING:
        since = request.started_at or request.decided_at or request.created_at
        return f"{line} Running since {when(since)}; progress in the thread."
    if status is RequestStatus.SUCCEEDED:
        after = region(request.region_after or request.region_target)
        return f"{line} Done: active in *{after}* after {took(request.duration)}."
    if status is RequestStatus.FAILED:
        error = request.error_message or request.error_code or "unknown error"
        return f"{line} Failed: {escape(clip(error, 500))}"
    return line


def progress_text(update: ProgressUpdate) -> str:
    request = update.request
    return (f"{_ICONS[request.status]} {request.kind.value.capitalize()} of `{request.hub.name}` "
            f"running for {humanize(update.elapsed)} (estimate {humanize(update.estimate)}).")


def _accepted(request: FailoverRequest) -> str:
    since = f" at {when(request.started_at)}" if request.started_at else ""
    return (f"Azure accepted the {request.kind.value} of `{request.hub.name}` to "
            f"{region(request.region_target)}{since}")


def status_text(update: ProgressUpdate) -> str:
    """The live status message: what Azure accepted, and where it stands now."""
    return (f"{_accepted(update.request)}. :arrows_counterclockwise: Running for "
            f"{humanize(update.elapsed)} (estimate {humanize(update.estimate)}).")


def final_status_text(report: CompletionReport) -> str:
    """The status message once the operation ended: a record, the result is the reply below."""
    request = report.request
    ran = f"; it ran for {took(request.duration)}" if request.duration else ""
    return f"{_accepted(request)}{ran}. The result is in the reply below."


def milestone_text(update: ProgressUpdate) -> str:
    request = update.request
    if update.milestone is Milestone.STARTED:
        return (f"Azure accepted the {request.kind.value} of `{request.hub.name}` to "
                f"{region(request.region_target)}; expect about {humanize(update.estimate)}.")
    if update.milestone is Milestone.SLOW:
        return (f":turtle: Taking longer than the estimate of {humanize(update.estimate)} "
                f"({humanize(update.elapsed)} so far). Azure is still working on it.")
    return progress_text(update)


def completion_blocks(report: CompletionReport) -> list[Block]:
    request = report.request
    if request.status is not RequestStatus.SUCCEEDED:
        error = escape(request.error_message or "Azure gave no reason.")
        code = f" (`{escape(request.error_code)}`)" if request.error_code else ""
        return [SectionBlock(text=clip(
            f":red_circle: The {request.kind.value} of `{request.hub.name}` failed{code}. "
            f"Azure said:\n> {error}\nThe hub is still served from "
            f"{region(report.hub.active_region if report.hub else request.region_before)}.",
            3000))]
    active = report.hub.active_region if report.hub else request.region_after
    fields = [
        MarkdownTextObject(text=f"*Active region*\n{region(active)}"),
        MarkdownTextObject(text=f"*Took*\n{took(request.duration)}"),
        MarkdownTextObject(text=f"*{request.kind.value.capitalize()}s left today*\n"
                                f"{report.quota_left}"),
    ]
    if request.kind is OperationKind.FAILOVER:  # after a failback the hub is home: no failback
        fields.append(MarkdownTextObject(text="*Failback possible*\n" + (
            when_allowed(report.failback_allowed_at) if report.failback_allowed_at else "now")))
    endpoint = report.hub.event_hub_endpoint if report.hub else None
    return [
        SectionBlock(text=f":large_green_circle: The {request.kind.value} of "
                          f"`{request.hub.name}` succeeded."),
        SectionBlock(fields=fields),
        SectionBlock(text=clip(":warning: New Event Hub-compatible endpoint: "
                               f"`{endpoint or 'unknown – read it from the portal'}`; "
                               f"{_consumers_then(request)}", 3000)),
        *([ContextBlock(elements=[MarkdownTextObject(
            text=":stethoscope: Verifying from Azure Monitor's own minutes: the verdict "
                 "follows in this thread.")])] if report.verifying else []),
    ]


def _consumers_then(request: FailoverRequest) -> str:
    restarting = request.consumers.to_restart if request.consumers else ()
    if not restarting:
        return "update downstream consumers."
    names = ", ".join(c.name for c in restarting)
    return f"restarting {escape(names)} now (as approved); update any other consumers."


def completion_text(report: CompletionReport) -> str:
    request = report.request
    state = "succeeded" if request.status is RequestStatus.SUCCEEDED else "failed"
    return f"The {request.kind.value} of {request.hub.name} ({request.id}) {state}."
