"""A local fake of the Slack Web API, for tests and the sandbox console.

``FakeSlack`` is the workspace: users, channels, user groups, messages and threads,
ephemeral messages, modal views and ``response_url`` posts, kept in memory behind one lock,
plus a record of every call. ``FakeSlackServer`` serves it over HTTP on 127.0.0.1 (random
port) in a background thread, so a real ``slack_sdk.WebClient(base_url=server.api_url)``
talks to it.

Served methods (``POST``/``GET /api/<method>``, form or JSON bodies, ``Authorization: Bearer``):
``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``views.open``,
``views.update``, ``views.push``, ``views.publish`` (a user's Home tab, kept in
:attr:`FakeSlack.home_views`), ``usergroups.users.list``, ``users.info``,
``conversations.info``, and ``apps.connections.open`` (with the app-level token: the
``ws://`` URL set as :attr:`FakeSlack.socket_mode_url`, a local Socket Mode endpoint
such as the drills' ``tests/drills/socket_mode_server.py``). ``POST /response/<token>``
is a ``response_url`` (:meth:`FakeSlackServer.response_url` mints one).

Behaviour copied from Slack: unknown token → ``invalid_auth``; unknown channel →
``channel_not_found``; blocks and views are validated with ``slack_sdk.models`` and rejected
with ``invalid_blocks`` / ``invalid_arguments``; a ``trigger_id`` works once
(``expired_trigger_id``); ``views.update`` honours ``hash`` (``hash_conflict``).
:meth:`FakeSlack.fail_next` injects errors, e.g. ``ratelimited`` with HTTP 429 and
``Retry-After``.

Reading state: :meth:`FakeSlack.messages`, :meth:`FakeSlack.thread`,
:meth:`FakeSlack.ephemerals`, :attr:`FakeSlack.views`, :attr:`FakeSlack.responses`,
:meth:`FakeSlack.calls`, and :meth:`FakeSlack.snapshot` (all of it as JSON-ready dicts).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

APP_TOKEN = "xapp-1-sandbox"  # noqa: S105 - the made-up app-level token (Socket Mode)
Json = dict[str, Any]
SANDBOX_TOKEN = "xoxb-sandbox"  # noqa: S105 - the fake accepts only this made-up token


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[Json] = field(default_factory=list)
    thread_ts: str | None = None
    reply_broadcast: bool = False
    edits: int = 0  # how many times chat.update changed it


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str = ""
    blocks: list[Json] = field(default_factory=list)


@dataclass
class ModalView:
    id: str
    user: str | None
    view: Json
    hash: str
    root_view_id: str
    closed: bool = False


@dataclass
class ResponsePost:
    token: str
    body: Json


@dataclass
class Call:
    method: str
    params: Json
    ok: bool
    error: str | None = None


@dataclass
class _Injected:
    error: str
    status: int
    retry_after: int | None
    remaining: int


@dataclass
class Reply:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class FakeSlack:
    """The in-memory workspace behind the fake API. Every public method is thread-safe."""

    def __init__(self, *, bot_token: str = SANDBOX_TOKEN, team_id: str = "T0SANDBOX",
                 bot_user_id: str = "U0BOT", bot_id: str = "B0BOT") -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_token = APP_TOKEN
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        # Slack's view ids are unique for good; the bot keys a regional batch by its view id,
        # so a sandbox reopening its database must not hand out the previous run's ids again.
        self._run = secrets.token_hex(3).upper()
        self.users: dict[str, Json] = {}
        self.channels: dict[str, Json] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._messages: list[Message] = []
        self._ephemerals: list[Ephemeral] = []
        self.views: dict[str, ModalView] = {}
        self.home_views: dict[str, Json] = {}  # user id -> the Home tab views.publish set
        self.responses: list[ResponsePost] = []
        self._calls: list[Call] = []
        self._used_triggers: set[str] = set()
        self._injected: dict[str, list[_Injected]] = {}
        self.add_user(bot_user_id, "failover-bot", is_bot=True)

    # ---- setting the scene -----------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, is_bot: bool = False) -> None:
        with self._lock:
            self.users[user_id] = {"id": user_id, "name": name, "real_name": name,
                                   "team_id": self.team_id, "is_bot": is_bot}

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._lock:
            self.channels[channel_id] = {"id": channel_id, "name": name, "is_channel": True,
                                         "is_member": True}

    def add_usergroup(self, group_id: str, users: list[str]) -> None:
        with self._lock:
            self.usergroups[group_id] = list(users)

    def new_trigger(self) -> str:
        return f"{next(self._seq)}.{int(time.time())}.trigger"

    def fail_next(self, method: str, error: str = "ratelimited", *, status: int | None = None,
                  retry_after: int | None = 1, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``error``."""
        status = status or (429 if error == "ratelimited" else 200)
        with self._lock:
            self._injected.setdefault(method, []).append(
                _Injected(error, status, retry_after if status == 429 else None, times))

    # ---- reading ---------------------------------------------------------------------

    def messages(self, channel: str | None = None, *, top_level: bool = False) -> list[Message]:
        with self._lock:
            return [m for m in self._messages if channel in (None, m.channel)
                    and not (top_level and m.thread_ts and m.thread_ts != m.ts)]

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return next((m for m in self._messages if m.channel == channel and m.ts == ts), None)

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies in the thread under ``ts`` (not the parent)."""
        with self._lock:
            return [m for m in self._messages if m.channel == channel and m.thread_ts == ts]

    def ephemerals(self, user: str | None = None) -> list[Ephemeral]:
        with self._lock:
            return [e for e in self._ephemerals if user in (None, e.user)]

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method in (None, c.method)]

    def snapshot(self) -> Json:
        with self._lock:
            return {
                "users": list(self.users.values()), "channels": list(self.channels.values()),
                "usergroups": dict(self.usergroups),
                "messages": [asdict(m) for m in self._messages],
                "ephemerals": [asdict(e) for e in self._ephemerals],
                "views": [asdict(v) for v in self.views.values()],
                "responses": [asdict(r) for r in self.responses],
                "calls": [asdict(c) for c in self._calls],
            }

    # ---- for a console that plays Slack's part in a view submission -----------------

    def replace_view(self, view_id: str, view: Json) -> None:
        """Apply a ``response_action: update`` the bot returned in its ack."""
        with self._lock:
            modal = self.views[view_id]
            modal.view, modal.hash = {**view, "id": view_id}, self._hash()

    def close_view(self, view_id: str) -> None:
        with self._lock:
            self.views[view_id].closed = True

    # ---- the API ---------------------------------------------------------------------

    def call(self, method: str, params: Json, token: str | None) -> Reply:
        """Answer one API call as Slack would; records it."""
        with self._lock:
            try:
                injected = self._take_injected(method)
                if injected:
                    headers = ({"Retry-After": str(injected.retry_after)}
                               if injected.retry_after is not None else {})
                    raise _Failure(injected.error, injected.status, headers)
                self._authenticate(token, app_level=method in _APP_LEVEL)
                handler = _METHODS.get(method)
                if handler is None:
                    raise SlackError("unknown_method")
                body = {"ok": True, **handler(self, params)}
                self._calls.append(Call(method, params, True))
                return Reply(200, body)
            except SlackError as exc:
                self._calls.append(Call(method, params, False, exc.error))
                return Reply(200, {"ok": False, "error": exc.error, **exc.extra})
            except _Failure as exc:
                self._calls.append(Call(method, params, False, exc.error))
                return Reply(exc.status, {"ok": False, "error": exc.error}, exc.headers)

    def post_response(self, token: str, body: Json) -> None:
        with self._lock:
            self.responses.append(ResponsePost(token, body))

    def _take_injected(self, method: str) -> _Injected | None:
        queue = self._injected.get(method) or []
        if not queue:
            return None
        injected = queue[0]
        injected.remaining -= 1
        if injected.remaining <= 0:
            queue.pop(0)
        return injected

    def _authenticate(self, token: str | None, *, app_level: bool = False) -> None:
        if not token:
            raise SlackError("not_authed")
        if token != (self.app_token if app_level else self.bot_token):
            raise SlackError("invalid_auth")

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._seq):06d}"

    def _hash(self) -> str:
        return f"{int(time.time())}.h{next(self._seq)}"

    def _channel(self, params: Json) -> str:
        channel = str(params.get("channel") or "")
        if channel in self.channels:
            return channel
        by_name = next((c for c, v in self.channels.items() if f"#{v['name']}" == channel), None)
        if by_name is None:
            raise SlackError("channel_not_found")
        return by_name

    def _message(self, channel: str, ts: str) -> Message:
        message = self.message(channel, ts)
        if message is None:
            raise SlackError("message_not_found")
        return message

    # ---- methods ---------------------------------------------------------------------

    def _auth_test(self, params: Json) -> Json:
        return {"url": "https://sandbox.slack.local/", "team": "Sandbox", "user": "failover-bot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id}

    def _connections_open(self, params: Json) -> Json:
        if self.socket_mode_url is None:
            raise SlackError("not_allowed_token_type")  # no Socket Mode endpoint here
        return {"url": self.socket_mode_url}

    def _permalink(self, params: Json) -> Json:
        channel = self._channel(params)
        message = self._message(channel, str(params.get("message_ts") or ""))
        link = f"https://sandbox.slack.local/archives/{channel}/p{message.ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _post_message(self, params: Json) -> Json:
        channel = self._channel(params)
        text, blocks = _content(params)
        thread_ts = params.get("thread_ts") or None
        if thread_ts:
            self._message(channel, str(thread_ts))
        message = Message(channel, self._ts(), self.bot_user_id, text, blocks,
                          str(thread_ts) if thread_ts else None,
                          _truthy(params.get("reply_broadcast")))
        self._messages.append(message)
        return {"channel": channel, "ts": message.ts, "message": asdict(message)}

    def _update(self, params: Json) -> Json:
        channel = self._channel(params)
        message = self._message(channel, str(params.get("ts") or ""))
        text, blocks = _content(params, for_update=True)
        message.text = text or message.text
        if "blocks" in params:
            message.blocks = blocks
        message.edits += 1
        return {"channel": channel, "ts": message.ts, "text": message.text}

    def _post_ephemeral(self, params: Json) -> Json:
        channel = self._channel(params)
        user = str(params.get("user") or "")
        if user not in self.users:
            raise SlackError("user_not_found")
        text, blocks = _content(params)
        ephemeral = Ephemeral(channel, user, self._ts(), text, blocks)
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _use_trigger(self, params: Json) -> None:
        trigger = str(params.get("trigger_id") or "")
        if not trigger:
            raise SlackError("invalid_arguments")
        if trigger in self._used_triggers:
            raise SlackError("expired_trigger_id")
        self._used_triggers.add(trigger)

    def _views_open(self, params: Json, root: str | None = None) -> Json:
        self._use_trigger(params)
        view = _view(params)
        view_id = f"V{self._run}{next(self._seq):06d}"
        modal = ModalView(view_id, params.get("user_id"), {**view, "id": view_id}, self._hash(),
                          root or view_id)
        self.views[view_id] = modal
        return {"view": _view_reply(modal)}

    def _views_push(self, params: Json) -> Json:
        roots = [v for v in self.views.values() if not v.closed]
        return self._views_open(params, root=roots[-1].root_view_id if roots else None)

    def _views_update(self, params: Json) -> Json:
        view_id = params.get("view_id")
        external = params.get("external_id")
        modal = self.views.get(str(view_id)) if view_id else next(
            (v for v in self.views.values() if v.view.get("external_id") == external), None)
        if modal is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != modal.hash:
            raise SlackError("hash_conflict")
        modal.view, modal.hash = {**_view(params), "id": modal.id}, self._hash()
        return {"view": _view_reply(modal)}

    def _views_publish(self, params: Json) -> Json:
        user = str(params.get("user_id") or "")
        if user not in self.users:
            raise SlackError("user_not_found")
        view = _view(params)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        published = {**view, "id": self.home_views.get(user, {}).get("id")
                     or f"V{self._run}{next(self._seq):06d}", "hash": self._hash()}
        self.home_views[user] = published
        return {"view": published}

    def _usergroup_users(self, params: Json) -> Json:
        group = str(params.get("usergroup") or "")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _users_info(self, params: Json) -> Json:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def _conversations_info(self, params: Json) -> Json:
        return {"channel": self.channels[self._channel(params)]}


class _Failure(Exception):
    def __init__(self, error: str, status: int, headers: dict[str, str]) -> None:
        super().__init__(error)
        self.error, self.status, self.headers = error, status, headers


_APP_LEVEL = frozenset({"apps.connections.open"})  # the app-level token's methods
_METHODS: dict[str, Callable[[FakeSlack, Json], Json]] = {
    "apps.connections.open": FakeSlack._connections_open,
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.getPermalink": FakeSlack._permalink,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "views.open": FakeSlack._views_open,
    "views.push": FakeSlack._views_push,
    "views.update": FakeSlack._views_update,
    "views.publish": FakeSlack._views_publish,
    "usergroups.users.list": FakeSlack._usergroup_users,
    "users.info": FakeSlack._users_info,
    "conversations.info": FakeSlack._conversations_info,
}


def _truthy(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise SlackError("invalid_arguments") from None
    return value


def validate_blocks(blocks: list[Json]) -> None:
    """Raise ``invalid_blocks`` for what ``slack_sdk.models`` rejects (as Slack would)."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise SlackError("invalid_blocks")
    for raw in blocks:
        block = Block.parse(raw) if isinstance(raw, dict) else None
        if block is None or type(block) is Block:
            raise SlackError("invalid_blocks")
        try:
            block.validate_json()
        except SlackObjectFormationError as exc:
            raise SlackError("invalid_blocks", response_metadata={"messages": [str(exc)]}) from None


def _content(params: Json, *, for_update: bool = False) -> tuple[str, list[Json]]:
    text = str(params.get("text") or "")
    blocks = _decoded(params.get("blocks")) or []
    if blocks:
        validate_blocks(blocks)
    if not text and not blocks and not for_update:
        raise SlackError("no_text")
    return text, blocks


def _view(params: Json) -> Json:
    view = _decoded(params.get("view"))
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    try:
        View(**view).validate_json()
    except (SlackObjectFormationError, TypeError) as exc:
        raise SlackError("invalid_arguments", response_metadata={"messages": [str(exc)]}) from None
    return dict(view)


def _view_reply(modal: ModalView) -> Json:
    return {**modal.view, "id": modal.id, "hash": modal.hash, "root_view_id": modal.root_view_id,
            "state": {"values": {}}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve(dict(parse_qs(urlsplit(self.path).query)))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if "json" in (self.headers.get("Content-Type") or ""):
            params: Json = json.loads(raw or "{}")
        else:
            params = dict(parse_qs(raw))
        params.update(dict(parse_qs(urlsplit(self.path).query)))
        self._serve(params)

    def _serve(self, params: Json) -> None:
        params = {k: v[0] if isinstance(v, list) and len(v) == 1 and isinstance(v[0], str)
                  else v for k, v in params.items()}
        path = urlsplit(self.path).path
        slack = self.server.slack
        if path.startswith("/response/"):
            slack.post_response(path.removeprefix("/response/"), params)
            return self._send(Reply(200, {"ok": True}))
        if not path.startswith("/api/"):
            return self._send(Reply(404, {"ok": False, "error": "not_found"}))
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.pop("token", None)
        params.pop("token", None)
        self._send(slack.call(path.removeprefix("/api/"), params, token))

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read calls()
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, slack: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.slack = slack


class FakeSlackServer:
    """``with FakeSlackServer() as server: WebClient(token, base_url=server.api_url)``."""

    def __init__(self, slack: FakeSlack | None = None) -> None:
        self.slack = slack or FakeSlack()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Slack API is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def response_url(self, token: str) -> str:
        return f"{self.url}response/{token}"

    def start(self) -> FakeSlackServer:
        self._server = _Server(self.slack)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-slack-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
