"""The Notifier port for Slack: edits the approval message and reports in its thread."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, Block, ContextBlock, MarkdownTextObject

from bot.domain.consumer_action import ConsumerAction
from bot.domain.drill import Drill
from bot.domain.request import FailoverRequest, RequestStatus
from bot.notifications import CompletionReport, Milestone, ProgressUpdate, VerdictReport
from bot.slack.after_move_blocks import (
    consumer_text,
    needs_attention,
    verdict_blocks,
    verdict_text,
)
from bot.slack.drill_blocks import said_blocks
from bot.slack.messages import (
    completion_blocks,
    completion_text,
    final_status_text,
    milestone_text,
    outcome,
    request_blocks,
    request_text,
    status_text,
)
from bot.slack.one_message import OneMessage
from bot.slack.text import escape

log = logging.getLogger(__name__)



class MessageLedger(Protocol):
    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        """Remember where a request was announced (``bot.service.notices.Notices``)."""
        ...

    def mark_notified(self, request_id: str, version: int) -> None:
        """Record that people have seen the request as of ``version``."""
        ...


class SlackNotifier:
    """Posts and edits messages; a Slack error propagates so the caller can retry later.

    Where a request was announced is stored through ``ledger``; the copies kept here only
    cover a caller holding a request read before the ts was stored.
    """

    def __init__(self, client: WebClient, ledger: MessageLedger, *,
                 audit_channel: str | None = None) -> None:
        self._client = client
        self._ledger = ledger
        self._audit_channel = audit_channel or None
        self._lock = threading.Lock()
        self._messages = OneMessage(client)
        self._status_ts: dict[str, str] = {}
        self._mirrored: set[tuple[str, RequestStatus]] = set()

    def request_changed(self, request: FailoverRequest) -> None:
        self._messages.show(
            request.id, request.channel_id, request.message_ts, blocks=request_blocks(request),
            text=request_text(request),
            remember=lambda ts: self._ledger.attach_message(request.id, message_ts=ts))
        self._mirror_request(request)
        if not request.status.ran:
            # Shown: the poller's sweep need not announce this state again. (An end that ran
            # in Azure is marked only once its completion reply is out, by the poller.)
            self._ledger.mark_notified(request.id, request.version)
        if request.status.closed_unrun:
            self._forget(request.id)

    def progress(self, update: ProgressUpdate) -> None:
        """The thread reads in time order: "Azure accepted" *is* the live status message
        (posted when Azure answered, then edited in place), later milestones are replies
        below it. A plain edit never creates the status message: it would sit above the
        "accepted" it must not precede."""
        request = update.request
        started = update.milestone is Milestone.STARTED
        if started or self._status_of(request):
            self._set_status(request, status_text(update))
        if update.milestone and not started:
            self._reply(request, milestone_text(update))
        if update.milestone:
            text = milestone_text(update)
            self._mirror(request, f"`{request.id}` `{request.hub.name}`: {text}")

    def completed(self, report: CompletionReport) -> None:
        request = report.request
        self.request_changed(request)
        text = completion_text(report)
        if self._status_of(request):
            # Frozen as what it was (accepted at, ran for): no end summary above later replies.
            self._set_status(request, final_status_text(report))
        self._reply(request, text, completion_blocks(report), broadcast=True)
        self._mirror(request, text)
        self._forget(request.id)

    def verdict(self, report: VerdictReport) -> None:
        """The verdict after the move, a reply in its thread (and the audit channel's)."""
        text = verdict_text(report)
        self._reply(report.request, text, verdict_blocks(report),
                    broadcast=needs_attention(report))
        self._mirror(report.request, f"`{report.request.id}` {escape(text)}")

    def consumer_acted(self, request: FailoverRequest, action: ConsumerAction) -> None:
        self._reply(request, consumer_text(action))

    def drill_said(self, request: FailoverRequest, drill: Drill, text: str) -> None:
        """A drill's step, in its failover leg's thread; its end, to the whole channel."""
        self._reply(request, text, said_blocks(drill, text), broadcast=drill.status.ended)

    def drill_refused(self, channel_id: str, text: str) -> None:
        self._client.chat_postMessage(channel=channel_id, text=text)

    def _forget(self, request_id: str) -> None:
        """A finished request needs none of the per-request state: the process runs for months."""
        self._messages.forget(request_id)
        with self._lock:
            self._status_ts.pop(request_id, None)
            self._mirrored = {key for key in self._mirrored if key[0] != request_id}

    # ---- helpers ------------------------------------------------------------------------

    def _thread(self, request: FailoverRequest) -> str | None:
        return request.message_ts or self._messages.ts(request.id)

    def _status_of(self, request: FailoverRequest) -> str | None:
        return request.status_message_ts or self._status_ts.get(request.id)

    def _set_status(self, request: FailoverRequest, text: str) -> None:
        """One status message per request, edited in place."""
        ts = self._status_of(request)
        if ts:
            self._client.chat_update(channel=request.channel_id, ts=ts, text=text)
            return
        response = self._client.chat_postMessage(channel=request.channel_id, text=text,
                                                 thread_ts=self._thread(request))
        ts = str(response["ts"])
        with self._lock:
            self._status_ts[request.id] = ts
        self._ledger.attach_message(request.id, status_message_ts=ts)

    def _reply(self, request: FailoverRequest, text: str, blocks: list[Block] | None = None,
               *, broadcast: bool = False) -> None:
        thread = self._thread(request)
        self._client.chat_postMessage(channel=request.channel_id, text=text, blocks=blocks,
                                      thread_ts=thread, reply_broadcast=broadcast and bool(thread))

    def _mirror_request(self, request: FailoverRequest) -> None:
        key = (request.id, request.status)
        with self._lock:
            if key in self._mirrored:
                return
            self._mirrored.add(key)
        if request.status is RequestStatus.AWAITING_APPROVAL:
            blocks = [b for b in request_blocks(request) if not isinstance(b, ActionsBlock)]
            blocks.append(ContextBlock(elements=[MarkdownTextObject(
                text=f"Requested in <#{request.channel_id}>; decide there.")]))
            self._mirror(request, request_text(request), blocks)
        else:
            self._mirror(request, f"`{request.id}` {request.kind.value} of `{request.hub.name}` "
                         f"in <#{request.channel_id}>: {outcome(request)}")

    def _mirror(self, request: FailoverRequest, text: str,
                blocks: list[Block] | None = None) -> None:
        """Best effort: the audit log in the database is the record, this is a courtesy copy."""
        if not self._audit_channel or self._audit_channel == request.channel_id:
            return
        try:
            self._client.chat_postMessage(channel=self._audit_channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("could not mirror to the audit channel: %s", exc.response.get("error"))
