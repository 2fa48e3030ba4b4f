"""Slack's rate limits, kept in front of any Notifier, with nothing important dropped.

Slack allows about one ``chat.postMessage`` per second per channel and about 50
``chat.update`` a minute (Tier 3). Calls are not made when asked for: they wait here, and each
``flush()`` sends what the budget allows. Milestone replies and completions queue in order and
are never dropped; progress edits and request-state edits are coalesced, so only the latest
one per request is sent. A message the inner notifier fails to send stays queued and is
retried with back-off. Cost of each kind (what the Slack notifier does for it):

* request changed → edit the approval message (1 update)
* progress → edit the status message (1 update)
* milestone (a ``ProgressUpdate`` with ``milestone``) → "Azure accepted" posts the status
  message; a later milestone edits it and replies below it (counted as 1 post, 1 update)
* completion → a reply in the thread and a final edit of the status message (1 post, 1 update);
  it supersedes queued edits of the same request.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.clock import Clock
from bot.domain.request import FailoverRequest
from bot.notifications import CompletionReport, Milestone, Notifier, ProgressUpdate

log = logging.getLogger(__name__)

UPDATE_WINDOW = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(minutes=5)


class MessageKind(StrEnum):
    CHANGED = "changed"
    PROGRESS = "progress"
    MILESTONE = "milestone"
    COMPLETED = "completed"

    @property
    def posts(self) -> int:
        return 1 if self in (MessageKind.MILESTONE, MessageKind.COMPLETED) else 0

    @property
    def updates(self) -> int:
        return 1


Payload = FailoverRequest | ProgressUpdate | CompletionReport


@dataclass
class Outgoing:
    """One message waiting for budget; ``request`` is the request as it was when queued."""

    kind: MessageKind
    request: FailoverRequest
    payload: Payload
    attempts: int = 0
    not_before: datetime | None = None

    @property
    def milestone(self) -> Milestone | None:
        return self.payload.milestone if isinstance(self.payload, ProgressUpdate) else None


class RateLimitedNotifier:
    """A Notifier that queues, and sends on ``flush()`` within Slack's limits."""

    def __init__(self, inner: Notifier, clock: Clock, *,
                 per_channel_post_interval: timedelta = timedelta(seconds=1),
                 updates_per_minute: int = 50) -> None:
        self._inner = inner
        self._clock = clock
        self._post_interval = per_channel_post_interval
        self._updates_per_minute = updates_per_minute
        self._lock = threading.RLock()
        self._announcements: list[Outgoing] = []
        self._latest: OrderedDict[tuple[MessageKind, str], Outgoing] = OrderedDict()
        self._last_post: dict[str, datetime] = {}
        self._recent_updates: deque[datetime] = deque()

    # ---- the Notifier port: queue --------------------------------------------------------

    def request_changed(self, request: FailoverRequest) -> None:
        self._coalesce(Outgoing(MessageKind.CHANGED, request, request))

    def progress(self, update: ProgressUpdate) -> None:
        if update.milestone is None:
            self._coalesce(Outgoing(MessageKind.PROGRESS, update.request, update))
            return
        with self._lock:
            # The milestone reply carries the same figures; an older edit is stale.
            self._latest.pop((MessageKind.PROGRESS, update.request.id), None)
            self._announcements.append(Outgoing(MessageKind.MILESTONE, update.request, update))

    def completed(self, report: CompletionReport) -> None:
        with self._lock:
            # The completion shows the end state: earlier edits of this request are stale.
            self._latest.pop((MessageKind.PROGRESS, report.request.id), None)
            self._latest.pop((MessageKind.CHANGED, report.request.id), None)
            self._announcements.append(Outgoing(MessageKind.COMPLETED, report.request, report))

    # ---- what is waiting -----------------------------------------------------------------

    def announcements_for(self, request_id: str) -> list[Outgoing]:
        """Milestones and completions queued for ``request_id`` (not yet sent)."""
        with self._lock:
            return [m for m in self._announcements if m.request.id == request_id]

    def backlog(self) -> int:
        with self._lock:
            return len(self._announcements) + len(self._latest)

    def spend(self, channel_id: str, *, posts: int = 0, updates: int = 0) -> bool:
        """Take budget for a call made elsewhere (a batch's board): ``False`` leaves it for
        later. Boards and requests' messages share one budget, as they share Slack's."""
        with self._lock:
            now = self._clock.now()
            while self._recent_updates and self._recent_updates[0] <= now - UPDATE_WINDOW:
                self._recent_updates.popleft()
            if len(self._recent_updates) + updates > self._updates_per_minute:
                return False
            last = self._last_post.get(channel_id)
            if posts and last is not None and now - last < self._post_interval:
                return False
            if posts:
                self._last_post[channel_id] = now
            self._recent_updates.extend([now] * updates)
            return True

    def forget(self, request_id: str) -> None:
        """Drop queued progress and milestones of a request another worker now owns."""
        with self._lock:
            self._announcements = [m for m in self._announcements
                                   if m.request.id != request_id
                                   or m.kind is MessageKind.COMPLETED]
            self._latest.pop((MessageKind.PROGRESS, request_id), None)

    # ---- sending -------------------------------------------------------------------------

    def flush(self) -> list[Outgoing]:
        """Send what the budget allows now; returns what the inner notifier accepted."""
        with self._lock:
            now = self._clock.now()
            sent: list[Outgoing] = []
            waiting: set[str] = set()  # requests with an earlier announcement still queued
            for message in list(self._announcements):
                if message.request.id in waiting or not self._may_send(message, now):
                    waiting.add(message.request.id)
                    continue
                if self._send(message, now):
                    self._announcements.remove(message)
                    sent.append(message)
                else:
                    waiting.add(message.request.id)
            for key, message in list(self._latest.items()):
                if not self._may_send(message, now):
                    continue
                if self._send(message, now):
                    del self._latest[key]
                    sent.append(message)
            return sent

    def _coalesce(self, message: Outgoing) -> None:
        key = (message.kind, message.request.id)
        with self._lock:
            previous = self._latest.get(key)
            if previous is not None:
                # Keep the queue position (fairness) and the retry back-off of the older one.
                message.attempts, message.not_before = previous.attempts, previous.not_before
            self._latest[key] = message

    def _may_send(self, message: Outgoing, now: datetime) -> bool:
        if message.not_before is not None and now < message.not_before:
            return False
        while self._recent_updates and self._recent_updates[0] <= now - UPDATE_WINDOW:
            self._recent_updates.popleft()
        if len(self._recent_updates) + message.kind.updates > self._updates_per_minute:
            return False
        last = self._last_post.get(message.request.channel_id)
        return not (message.kind.posts and last is not None
                    and now - last < self._post_interval)

    def _send(self, message: Outgoing, now: datetime) -> bool:
        # Slack counts failed calls too, so the budget is spent before trying.
        if message.kind.posts:
            self._last_post[message.request.channel_id] = now
        self._recent_updates.extend([now] * message.kind.updates)
        try:
            self._deliver(message)
        except Exception as exc:
            message.attempts += 1
            delay = min(MAX_RETRY_DELAY, timedelta(seconds=2 ** min(message.attempts, 10)))
            message.not_before = now + delay
            # The error's type only: a chat client's error text may echo request details.
            log.warning("%s message for %s failed (%s, attempt %d); retrying in %ds",
                        message.kind.value, message.request.id, type(exc).__name__,
                        message.attempts, int(delay.total_seconds()))
            return False
        return True

    def _deliver(self, message: Outgoing) -> None:
        payload = message.payload
        if isinstance(payload, CompletionReport):
            self._inner.completed(payload)
        elif isinstance(payload, ProgressUpdate):
            self._inner.progress(payload)
        else:
            self._inner.request_changed(payload)
