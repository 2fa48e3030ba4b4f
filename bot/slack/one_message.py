"""One channel message per key (a request's approval message, a batch's board): posted once,
then edited in place."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient


class OneMessage:
    """Posts a key's message once, then edits it; a Slack error propagates.

    Where it was posted is handed to ``remember`` (the store); the copy kept here only covers
    a caller holding a record read before the ts was stored. Two callers showing one key at
    once (the listener that recorded it and the poller's sweep) are serialised by the key's
    own lock, so one posts.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._posting: dict[str, threading.Lock] = {}
        self._ts: dict[str, str] = {}

    def show(self, key: str, channel: str, known_ts: str | None, *, blocks: list[Any],
             text: str, remember: Callable[[str], None]) -> None:
        with self._key_lock(key):
            ts = known_ts or self.ts(key)
            posted = not ts
            if ts:
                self._client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
            else:
                ts = str(self._client.chat_postMessage(channel=channel, blocks=blocks,
                                                       text=text)["ts"])
            # Kept before it is stored: a failed write must not make a retry post twice, and
            # a caller with an older record (no ts yet) must edit, not post.
            with self._lock:
                self._ts[key] = ts
            if posted:
                remember(ts)

    def ts(self, key: str) -> str | None:
        with self._lock:
            return self._ts.get(key)

    def forget(self, key: str) -> None:
        """A finished key needs nothing kept here (the process runs for months)."""
        with self._lock:
            self._ts.pop(key, None)
            self._posting.pop(key, None)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._posting.setdefault(key, threading.Lock())
