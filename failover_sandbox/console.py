"""The web console: a browser page that plays the Slack client for a few made-up people.

The page never talks to the bot itself. It asks this server to act for the chosen person;
the server builds the payload Slack would build, signs it with the app's signing secret and
POSTs it to the bot's ``/slack/events``, then applies the bot's answer the way Slack does
(a command's immediate reply becomes an ephemeral message, a ``view_submission`` ack closes,
updates or annotates the modal). The bot answers through the fake Web API, whose state the
page polls from ``GET /api/state``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.hubs.gateway import GatewayError, HubNotFound
from failover_sandbox import payloads
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from failover_sandbox.slack_api import Message
from failover_sandbox.workspace import SandboxWorkspace

log = logging.getLogger(__name__)

Json = dict[str, Any]
STATIC = Path(__file__).parent / "static"
BOT_COMMANDS = ("/iothub", "/failover", "/failback")
SANDBOX_COMMAND = "/sandbox"  # the console's own, never sent to the bot: faults in the fleet
SANDBOX_USAGE = (
    "`/sandbox fail <hub>` – the hub's next failover or failback runs its course, then fails "
    "as Azure's sometimes do (try *Retry failed* on a regional board)\n"
    "`/sandbox heal [hub]` – forget the faults not yet used (for one hub, or all)")
FAILURE = ("InternalServerError",
           "The failover of the IoT hub could not be completed. Try again later.")


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    title: str
    handle: str


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    topic: str = ""


class UnknownPerson(ValueError):
    pass


class Console:
    """Acts in the workspace for one of ``people``; every method is blocking and thread-safe."""

    def __init__(self, workspace: SandboxWorkspace, *, response_url: Callable[[str], str],
                 bot_url: str,
                 signing_secret: str, channel: Channel, people: list[Person],
                 timeout: float = 10.0, fleet: SimulatedIotHubGateway | None = None) -> None:
        """``response_url(token)`` mints a URL on the fake API; ``bot_url`` is /slack/events;
        ``fleet``: the simulated fleet ``/sandbox`` injects faults into."""
        self.workspace = workspace
        self._response_url = response_url
        self.bot_url = bot_url
        self._secret = signing_secret
        self.channel = channel
        self.people = {p.id: p for p in people}
        self._timeout = timeout
        self.fleet = fleet

    # ---- sending to the bot as Slack -------------------------------------------------

    def _post(self, body: str) -> requests.Response | None:
        try:
            return requests.post(self.bot_url, data=body.encode(), timeout=self._timeout,
                                 headers=payloads.signed_headers(body, self._secret))
        except requests.RequestException as exc:
            log.warning("the bot did not answer: %s", exc)
            return None

    def _person(self, user_id: str) -> Person:
        person = self.people.get(user_id)
        if person is None:
            raise UnknownPerson(user_id)
        return person

    def slash_command(self, user_id: str, line: str) -> Json:
        person = self._person(user_id)
        command, _, text = line.strip().partition(" ")
        channel = self.channel
        if command == SANDBOX_COMMAND:
            return self._sandbox_command(person, text.strip())
        if command not in BOT_COMMANDS:
            self.workspace.show_ephemeral(
                person.id, channel.id,
                f"`{command}` is not a valid command. In Slack, all messages that start with "
                "the \"/\" character are interpreted as commands.")
            return {"ok": False, "error": "unknown_command"}
        token = self.workspace.response_token_for(person.id, channel.id)
        body = payloads.slash_command(
            command=command, text=self._as_slack_sends(text.strip()), user_id=person.id,
            user_name=person.handle,
            team_id=self.workspace.team_id, channel_id=channel.id, channel_name=channel.name,
            response_url=self._response_url(token),
            trigger_id=self.workspace.trigger_for(person.id))
        response = self._post(body)
        if response is None or response.status_code != 200:
            self._dispatch_failed(person, command, response)
            return {"ok": False, "status": response.status_code if response else None}
        reply = _json_or_none(response)
        if reply and (reply.get("text") or reply.get("blocks")):
            blocks = reply.get("blocks") or []
            if reply.get("response_type") == "in_channel":
                self.workspace.call("chat.postMessage", {
                    "channel": channel.id, "text": reply.get("text") or "", "blocks": blocks,
                }, self.workspace.bot_token)
            else:
                self.workspace.show_ephemeral(person.id, channel.id,
                                              str(reply.get("text") or ""), blocks)
        return {"ok": True, "status": 200}

    def open_home(self, user_id: str) -> Json:
        """The person opens the app's Home tab: Slack sends ``app_home_opened`` and the bot
        publishes the tab (``views.publish``) for them."""
        person = self._person(user_id)
        body = payloads.app_home_opened(user_id=person.id, team_id=self.workspace.team_id,
                                        channel_id=f"D{person.id.removeprefix('U')}")
        try:
            response = requests.post(self.bot_url, data=body.encode(), timeout=self._timeout,
                                     headers=payloads.signed_headers(
                                         body, self._secret, content_type="application/json"))
        except requests.RequestException as exc:
            log.warning("the bot did not answer: %s", exc)
            return {"ok": False}
        return {"ok": response.status_code == 200, "status": response.status_code}

    def _as_slack_sends(self, text: str) -> str:
        # `@Alice` or `@alice` is the person (by name or handle), as Slack's autocomplete
        # makes it: the bot's help suggests `--user @someone`.
        users = {key.lower(): p.id for p in self.people.values() for key in (p.handle, p.name)}
        return payloads.escape_command_text(text, users=users,
                                            channels={self.channel.name: self.channel.id})

    def _sandbox_command(self, person: Person, text: str) -> Json:
        """``/sandbox …``: the console's own command, answered only to its author."""
        verb, _, hub = text.partition(" ")
        hub = hub.strip()
        fleet = self.fleet
        if fleet is None or verb not in ("fail", "heal") or (verb == "fail" and not hub):
            self.workspace.show_ephemeral(person.id, self.channel.id, SANDBOX_USAGE)
            return {"ok": False, "error": "usage"}
        if hub:
            try:
                hub = fleet.resolve(hub).name
            except GatewayError as exc:
                said = (f"There is no hub called `{hub[:80]}` in the simulated fleet."
                        if isinstance(exc, HubNotFound) else str(exc))
                self.workspace.show_ephemeral(person.id, self.channel.id, f":warning: {said}")
                return {"ok": False, "error": "hub_not_found"}
        if verb == "fail":
            fleet.inject(hub, fail_next_with=FAILURE)
            said = (f":construction: Sandbox: the next failover or failback of `{hub}` will run "
                    f"its course, then fail with `{FAILURE[0]}`.")
        else:
            if hub:
                fleet.clear_faults(hub)
            else:
                fleet.clear_all_faults()
            said = (f":construction: Sandbox: faults not yet used "
                    f"{f'for `{hub}` ' if hub else ''}are forgotten.")
        self.workspace.show_ephemeral(person.id, self.channel.id, said)
        return {"ok": True}

    def _dispatch_failed(self, person: Person, command: str,
                         response: requests.Response | None) -> None:
        error = "dispatch_failed" if response is None else f"http_{response.status_code}"
        self.workspace.show_ephemeral(person.id, self.channel.id,
                                      f"`{command}` failed with the error \"{error}\"")

    def say(self, user_id: str, text: str, thread_ts: str | None = None) -> Json:
        person = self._person(user_id)
        message = self.workspace.post_as(person.id, self.channel.id, text, thread_ts)
        return {"ok": True, "ts": message.ts}

    def click(self, user_id: str, message_ts: str, action: Json) -> Json:
        """A button in a channel message, or in one of this person's ephemeral messages."""
        person = self._person(user_id)
        channel = self.channel
        found = self.workspace.message(channel.id, message_ts)
        ephemeral = None
        if found is None:
            ephemeral = next((e for e in self.workspace.ephemerals(person.id)
                              if e.ts == message_ts), None)
            if ephemeral is None:
                return {"ok": False, "error": "message_not_found"}
        message: Json = (asdict(found) if found is not None else
                         {"ts": ephemeral.ts if ephemeral else message_ts,
                          "text": ephemeral.text if ephemeral else "",
                          "blocks": ephemeral.blocks if ephemeral else []})
        clean = {"type": "button", "action_id": str(action.get("action_id") or ""),
                 "block_id": str(action.get("block_id") or ""),
                 "text": {"type": "plain_text", "text": str(action.get("text") or "")}}
        if action.get("value") is not None:
            clean["value"] = str(action["value"])
        token = self.workspace.response_token_for(person.id, channel.id)
        body = payloads.button_click(
            user_id=person.id, user_name=person.handle, team_id=self.workspace.team_id,
            channel_id=channel.id, channel_name=channel.name, message=message, action=clean,
            trigger_id=self.workspace.trigger_for(person.id),
            response_url=self._response_url(token), is_ephemeral=ephemeral is not None)
        response = self._post(body)
        if response is None or response.status_code != 200:
            self.workspace.show_ephemeral(
                person.id, channel.id, ":warning: failover-bot did not respond to the click.")
            return {"ok": False, "status": response.status_code if response else None}
        return {"ok": True, "status": 200}

    def submit(self, user_id: str, view_id: str,
               values: dict[str, dict[str, payloads.Typed]]) -> Json:
        """A modal's submit button: ``values[block_id][action_id]`` is what the person left in
        each input (text, or the values of the options picked; inputs left out were not
        touched and report their initial value)."""
        person = self._person(user_id)
        modal = self.workspace.views.get(view_id)
        if modal is None or modal.closed or modal.user != person.id:
            return {"ok": False, "error": "view_not_found"}
        seen_hash = modal.hash
        view = payloads.view_with_state(dict(modal.view), seen_hash, values)
        view["team_id"] = self.workspace.team_id
        body = payloads.view_submission(user_id=person.id, user_name=person.handle,
                                        team_id=self.workspace.team_id, view=view,
                                        trigger_id=self.workspace.trigger_for(person.id))
        response = self._post(body)
        if response is None or response.status_code != 200:
            # Slack keeps the modal open and says it could not reach the app.
            self.workspace.apply_view_response(view_id, seen_hash, {
                "response_action": "errors", "errors": {
                    "": "We had some trouble connecting. Try again?"}})
            return {"ok": False, "status": response.status_code if response else None}
        self.workspace.apply_view_response(view_id, seen_hash, _json_or_none(response))
        return {"ok": True, "status": 200}

    def close(self, user_id: str, view_id: str) -> Json:
        person = self._person(user_id)
        modal = self.workspace.views.get(view_id)
        if modal is None or modal.user != person.id:
            return {"ok": False, "error": "view_not_found"}
        self.workspace.close_view(view_id)
        if modal.view.get("notify_on_close"):
            self._post(payloads.view_closed(user_id=person.id, user_name=person.handle,
                                            team_id=self.workspace.team_id, view=modal.view))
        return {"ok": True}

    # ---- what the person sees --------------------------------------------------------

    def state(self, user_id: str) -> Json:
        person = self._person(user_id)
        ws = self.workspace
        version = ws.version
        channel = self.channel.id
        everyone = ws.messages(channel)
        timeline: list[tuple[tuple[int, int], Json]] = []
        for message in everyone:
            in_thread = bool(message.thread_ts) and message.thread_ts != message.ts
            if in_thread and not message.reply_broadcast:
                continue
            replies = [self._message_json(m) for m in everyone if m.thread_ts == message.ts
                       and m.ts != message.ts]
            timeline.append((_ts_key(message.ts), {
                **self._message_json(message), "kind": "message", "replies": replies}))
        for ephemeral in ws.ephemerals(person.id):
            if ephemeral.channel == channel:
                timeline.append((_ts_key(ephemeral.ts), {
                    "kind": "ephemeral", "ts": ephemeral.ts, "user": ws.bot_user_id,
                    "user_name": "failover-bot", "is_bot": True, "text": ephemeral.text,
                    "blocks": ephemeral.blocks, "replies": []}))
        timeline.sort(key=lambda item: item[0])
        return {
            "version": version, "me": person.id,
            "people": [asdict(p) for p in self.people.values()],
            "bot": {"id": ws.bot_user_id, "name": "failover-bot"},
            "channel": asdict(self.channel),
            "channels": {c: v["name"] for c, v in ws.channels.items()},
            "users": {u: v["name"] for u, v in ws.users.items()},
            "timeline": [item for _, item in timeline],
            "modal": self._modal(person.id),
            "home": ws.home_views.get(person.id),
        }

    def _message_json(self, message: Message) -> Json:
        person = self.people.get(message.user)
        is_bot = message.user == self.workspace.bot_user_id
        return {"ts": message.ts, "user": message.user, "is_bot": is_bot,
                "user_name": "failover-bot" if is_bot else (person.name if person else
                                                            message.user),
                "text": message.text, "blocks": message.blocks, "edited": message.edits > 0,
                "thread_ts": message.thread_ts}

    def _modal(self, user_id: str) -> Json | None:
        open_views = [v for v in self.workspace.views.values()
                      if v.user == user_id and not v.closed]
        if not open_views:
            return None
        modal = open_views[-1]
        errors_hash, errors = self.workspace.view_errors.get(modal.id, ("", {}))
        return {"id": modal.id, "hash": modal.hash, "view": modal.view,
                "errors": errors if errors_hash == modal.hash else {}}

    # ---- HTTP ------------------------------------------------------------------------

    def web_app(self) -> Starlette:
        async def index(request: Request) -> Response:
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

        async def state(request: Request) -> Response:
            user = request.query_params.get("user", "")
            since = request.query_params.get("since")
            if since is not None and since == str(self.workspace.version):
                return JSONResponse({"version": self.workspace.version, "unchanged": True})
            return _answer(lambda: self.state(user))

        async def command(request: Request) -> Response:
            data = await _body(request)
            text = str(data.get("text") or "").strip()
            user, thread = str(data.get("user") or ""), data.get("thread_ts") or None
            if not text:
                return JSONResponse({"ok": False, "error": "no_text"}, status_code=400)
            if text.startswith("/") and not thread:
                return await run_in_threadpool(_answer, lambda: self.slash_command(user, text))
            return _answer(lambda: self.say(user, text, thread))

        async def action(request: Request) -> Response:
            data = await _body(request)
            return await run_in_threadpool(_answer, lambda: self.click(
                str(data.get("user") or ""), str(data.get("message_ts") or ""),
                dict(data.get("action") or {})))

        async def submit(request: Request) -> Response:
            data = await _body(request)
            return await run_in_threadpool(_answer, lambda: self.submit(
                str(data.get("user") or ""), str(data.get("view_id") or ""),
                dict(data.get("values") or {})))

        async def home(request: Request) -> Response:
            data = await _body(request)
            return await run_in_threadpool(_answer, lambda: self.open_home(
                str(data.get("user") or "")))

        async def close(request: Request) -> Response:
            data = await _body(request)
            return await run_in_threadpool(_answer, lambda: self.close(
                str(data.get("user") or ""), str(data.get("view_id") or "")))

        return Starlette(routes=[
            Route("/", index, methods=["GET"]),
            Route("/api/state", state, methods=["GET"]),
            Route("/api/command", command, methods=["POST"]),
            Route("/api/action", action, methods=["POST"]),
            Route("/api/submit", submit, methods=["POST"]),
            Route("/api/close", close, methods=["POST"]),
            Route("/api/home", home, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ])


def _answer(work: Any) -> Response:
    try:
        return JSONResponse(work())
    except UnknownPerson as exc:
        return JSONResponse({"ok": False, "error": f"unknown user {exc}"}, status_code=400)


async def _body(request: Request) -> Json:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _json_or_none(response: requests.Response) -> Json | None:
    if not response.content:
        return None
    try:
        data = response.json()
    except ValueError:
        return {"text": response.text}
    return data if isinstance(data, dict) else None


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, seq = ts.partition(".")
    return int(seconds or 0), int(seq or 0)
