"""What is running (or waiting for approval) on a hub: every answer about that hub says it
first — which operation, who asked, who approved, since when, the estimate, the request id,
and what to do now."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.durations import humanize
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import estimate_duration
from bot.service import AUTO_APPROVER
from bot.slack.text import clip, user, when

log = logging.getLogger(__name__)


def thread_link(client: WebClient, request: FailoverRequest) -> str | None:
    """A link to the request's thread (chat.getPermalink needs no scope); ``None`` if Slack
    would not say, and the answer then names the channel instead."""
    if not request.message_ts:
        return None
    try:
        answer = client.chat_getPermalink(channel=request.channel_id,
                                          message_ts=request.message_ts)
    except SlackApiError as exc:
        log.info("chat.getPermalink failed: %s", exc.response.get("error"))
        return None
    link = answer.get("permalink")
    return str(link) if link else None


def _approver(request: FailoverRequest) -> str:
    if request.approved_by == AUTO_APPROVER:
        return "automatically (BOT_REQUIRE_APPROVAL=false)"
    return user(request.approved_by)


def running_summary(request: FailoverRequest, now: datetime | None = None,
                    estimate: timedelta | None = None, link: str | None = None) -> str:
    """The mrkdwn paragraph; ``now`` adds the elapsed time, ``link`` the thread's permalink."""
    kind, hub = request.kind.value, request.hub.name
    estimate = estimate or estimate_duration(request.device_count)
    thread = f"<{link}|the request's thread>" if link else f"the thread in <#{request.channel_id}>"
    if request.status is RequestStatus.AWAITING_APPROVAL:
        return (f":raised_hand: *A {kind} of `{hub}` is waiting for approval* "
                f"(request `{request.id}`).\n"
                f"Requested by {user(request.requested_by)} {when(request.created_at)}; "
                f"not approved yet; expires {when(request.expires_at)}. "
                f"Estimated duration once approved: {humanize(estimate)}.\n"
                f"What to do: approve or reject it in {thread}; the requester can withdraw it "
                f"with `/iothub cancel {request.id}`; `/iothub status {hub}` shows where it is.")
    since = request.started_at or request.decided_at or request.created_at
    elapsed = f" ({humanize(now - since)} ago)" if now and now >= since else ""
    verb = "is running" if request.operation_handle else "is starting"
    return (f":arrows_counterclockwise: *A {kind} of `{hub}` {verb}* (request `{request.id}`).\n"
            f"Requested by {user(request.requested_by)}, approved by {_approver(request)}; "
            f"running since {when(since)}{elapsed}; estimate {humanize(estimate)}.\n"
            f"What to do: wait for it to finish — progress is in {thread}; "
            f"`/iothub status {hub}` shows where it stands. It can no longer be cancelled: "
            f"Azure does not stop a {kind} it has begun.")


def running_blocks(request: FailoverRequest, now: datetime | None = None,
                   estimate: timedelta | None = None, link: str | None = None) -> list[Block]:
    return [SectionBlock(text=clip(running_summary(request, now, estimate, link), 3000))]


def nothing_started() -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text="Nothing new was started.")])
