"""The sandbox's Slack workspace: the fake Web API plus what only the Slack client app knows.

Slack itself remembers who clicked which trigger (so a modal opens for that person), which
``response_url`` belongs to which command (so its posts are shown only to its user), and
what people type in the channel. :class:`SandboxWorkspace` adds that to :class:`FakeSlack`,
and a version number that moves whenever anything visible changed (the console polls it).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from failover_sandbox.slack_api import Ephemeral, FakeSlack, Message, Reply

Json = dict[str, Any]
_VISIBLE = ("chat.", "views.")


@dataclass(frozen=True)
class ResponseTarget:
    user: str
    channel: str


class SandboxWorkspace(FakeSlack):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._version = 0
        self._changed = threading.Condition(self._lock)
        self._trigger_owners: dict[str, str] = {}
        self._response_targets: dict[str, ResponseTarget] = {}
        self.view_errors: dict[str, tuple[str, dict[str, str]]] = {}  # view id -> (hash, errors)

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def wait_for_change(self, since: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._version != since, timeout=timeout)
            return self._version

    def _bump(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    # ---- what the Slack client app does on a person's behalf -------------------------

    def trigger_for(self, user: str) -> str:
        trigger = self.new_trigger()
        with self._lock:
            self._trigger_owners[trigger] = user
        return trigger

    def response_token_for(self, user: str, channel: str) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            self._response_targets[token] = ResponseTarget(user, channel)
        return token

    def post_as(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> Message:
        """A person types a message (the bot does not listen to messages)."""
        with self._lock:
            if thread_ts:
                self._message(channel, thread_ts)
            message = Message(channel, self._ts(), user, text, [], thread_ts or None)
            self._messages.append(message)
            self._bump()
            return message

    def show_ephemeral(self, user: str, channel: str, text: str,
                       blocks: list[Json] | None = None) -> None:
        """What Slack shows from a command's immediate response, or its own errors."""
        with self._lock:
            self._ephemerals.append(Ephemeral(channel, user, self._ts(), text, blocks or []))
            self._bump()

    def apply_view_response(self, view_id: str, seen_hash: str, response: Json | None) -> None:
        """Play Slack's part after a ``view_submission`` ack.

        Empty → the modal closes; ``errors`` → shown inline; ``update`` → replaced, unless
        the bot has already updated the view since (its lazy ``views.update`` wins).
        """
        with self._lock:
            modal = self.views.get(view_id)
            if modal is None:
                return
            response = response or {}
            action = response.get("response_action")
            if action == "errors":
                self.view_errors[view_id] = (modal.hash, dict(response.get("errors") or {}))
            elif action in ("update", "push"):
                if modal.hash == seen_hash:
                    self.replace_view(view_id, dict(response.get("view") or {}))
            elif action == "clear" or not action:
                for other in self.views.values():
                    if other.root_view_id == modal.root_view_id:
                        other.closed = True
            self._bump()

    def close_view(self, view_id: str) -> None:
        with self._lock:
            super().close_view(view_id)
            self._bump()

    # ---- the fake API, with ownership and change tracking ----------------------------

    def call(self, method: str, params: Json, token: str | None) -> Reply:
        with self._lock:
            reply = super().call(method, params, token)
            if reply.body.get("ok") and method in ("views.open", "views.push"):
                owner = self._trigger_owners.get(str(params.get("trigger_id") or ""))
                view_id = reply.body["view"]["id"]
                if owner and view_id in self.views:
                    self.views[view_id].user = owner
            if reply.body.get("ok") and method.startswith(_VISIBLE):
                self._bump()
            return reply

    def post_response(self, token: str, body: Json) -> None:
        """A ``response_url`` post: ephemeral to its user unless it says ``in_channel``."""
        with self._lock:
            super().post_response(token, body)
            target = self._response_targets.get(token)
            if target is None:
                return
            text = str(body.get("text") or "")
            blocks = body.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            if body.get("response_type") == "in_channel":
                self._messages.append(Message(target.channel, self._ts(), self.bot_user_id,
                                              text, list(blocks)))
            else:
                self._ephemerals.append(Ephemeral(target.channel, target.user, self._ts(), text,
                                                  list(blocks)))
            self._bump()
