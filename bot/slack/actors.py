"""Who is clicking: a Slack user id plus the configured user groups they belong to."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.clock import Clock, SystemClock
from bot.domain.policy import Actor

log = logging.getLogger(__name__)


class ActorResolver(Protocol):
    def resolve(self, user_id: str) -> Actor:
        """The actor for ``user_id``, with the membership of every group the policy names."""
        ...


class SlackActorResolver:
    """Reads group membership with ``usergroups.users.list``, cached per group for ``ttl``.

    A group that cannot be read counts as empty (fail closed): nobody gains a right because
    Slack was unreachable. The last good answer is kept and used until it can be refreshed.
    """

    def __init__(self, client: WebClient, group_ids: Iterable[str], *,
                 ttl: timedelta = timedelta(minutes=5), clock: Clock | None = None) -> None:
        self._client = client
        self._group_ids = frozenset(group_ids)
        self._ttl = ttl
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._members: dict[str, tuple[frozenset[str], datetime]] = {}

    def resolve(self, user_id: str) -> Actor:
        groups = frozenset(g for g in self._group_ids if user_id in self._members_of(g))
        return Actor(user_id, groups)

    def _members_of(self, group_id: str) -> frozenset[str]:
        now = self._clock.now()
        with self._lock:
            cached = self._members.get(group_id)
        if cached and cached[1] > now:
            return cached[0]
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
            members = frozenset(response.get("users") or [])
        except SlackApiError as exc:
            log.warning("could not read user group %s: %s", group_id, exc.response.get("error"))
            return cached[0] if cached else frozenset()
        with self._lock:
            self._members[group_id] = (members, now + self._ttl)
        return members

