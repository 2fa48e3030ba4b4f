"""``app_home_opened``: the front acks (Bolt acks an event as soon as its ack returns) and
hands the lazy half over; the work process reads Azure and the database and publishes the
Home tab (``bot.slack.home``) for the user who opened it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.service import Fleet
from bot.service.drill_reading import DrillOutlook
from bot.slack.home import MAX_BATCHES, home_view, unavailable_view
from bot.slack.lazy import HOME
from bot.slack.listener import Kind, Listener, any_access
from bot.slack.listener_deps import ListenerDeps, failure_message

log = logging.getLogger(__name__)

EVENT = "app_home_opened"
FLEET_TTL_S = 10.0  # everyone opens the tab at once in an outage: one Azure read serves them
MAX_LINKS = 512  # permalinks kept (a message's never changes)


def _acknowledge(ack: Ack) -> None:
    ack()


class _Recent:
    """The fleet and the drills as read at most ``FLEET_TTL_S`` ago (on the service's clock),
    and the boards' permalinks."""

    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps
        self.lock = threading.Lock()
        self.fleet: Fleet | None = None
        self.drills: DrillOutlook | None = None
        self.read_at: datetime | None = None
        self.links: dict[tuple[str, str], str] = {}

    def read(self) -> tuple[Fleet, DrillOutlook, datetime]:
        """The fleet, the drills, and when they were read."""
        now = self.deps.service.clock.now()
        with self.lock:
            age = (now - self.read_at).total_seconds() if self.read_at else None
            if self.fleet is None or self.drills is None or self.read_at is None \
                    or age is None or not 0 <= age < FLEET_TTL_S:
                service = self.deps.service
                self.fleet = service.boards.fleet(MAX_BATCHES)
                self.drills, self.read_at = service.drill_reading.outlook(), now
            return self.fleet, self.drills, self.read_at

    def permalinks(self, client: WebClient, fleet: Fleet) -> dict[str, str]:
        found = {}
        for board in fleet.batches:
            batch = board.batch
            if not batch.message_ts:
                continue
            key = (batch.channel_id, batch.message_ts)
            link = self.links.get(key) or _permalink(client, *key)
            if link is None:
                continue
            if key not in self.links:
                if len(self.links) >= MAX_LINKS:
                    self.links.clear()
                self.links[key] = link
            found[batch.id] = link
        return found


def _permalink(client: WebClient, channel: str, ts: str) -> str | None:
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except SlackApiError as exc:
        log.info("chat.getPermalink failed: %s", exc.response.get("error"))
        return None
    except OSError as exc:  # the tab is still worth publishing without its links
        log.info("chat.getPermalink failed: %s", exc)
        return None
    return str(link) if link else None


def _publisher(deps: ListenerDeps) -> Callable[..., None]:
    recent = _Recent(deps)

    def publish(event: dict[str, Any], client: WebClient) -> None:
        user = event.get("user")
        if event.get("tab", "home") != "home" or not user:
            return  # the Messages tab (disabled in the manifest), or no one to show it to
        try:
            fleet, drills, read_at = recent.read()
            view = home_view(fleet, read_at, recent.permalinks(client, fleet), drills)
        except Exception as exc:
            view = unavailable_view(failure_message(exc).replace("; nothing was started", ""),
                                    deps.service.clock.now())
        try:
            client.views_publish(user_id=str(user), view=view)
        except SlackApiError as exc:
            log.warning("views.publish failed: %s", exc.response.get("error"))

    return publish


LISTENERS = (Listener(Kind.EVENT, EVENT, any_access(_acknowledge), {HOME: _publisher}),)
