"""The shape of a signed payload, checked once at the edge (HTTP and Socket Mode alike), so
no listener and no Bolt matcher meets a field of the wrong type: ``"actions": []``, a
``team`` that is a list, a ``view`` that is a string, a submission without ``state`` are
refused whole (400, one log line) instead of failing deep inside a listener.

Only what Bolt or the bot reads is checked, and only its type: Slack adds fields freely.
The answer names fields, never values (a payload is not logged)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

# Fields read as text wherever they appear at the top of a payload.
_TEXT = ("type", "api_app_id", "team_id", "enterprise_id", "user_id", "channel_id", "command",
         "text", "trigger_id", "response_url", "callback_id")
# Objects whose "id" (and these other fields) are read as text.
_OBJECTS = {"team": ("id", "enterprise_id"), "enterprise": ("id",),
            "user": ("id", "team_id"), "channel": ("id",),
            "container": ("channel_id", "message_ts", "thread_ts"),
            "message": ("ts", "thread_ts")}
_VIEW_TEXT = ("id", "callback_id", "private_metadata", "hash", "team_id", "type")
_VIEW_SENT = ("id", "type", "callback_id")  # with every submission and view_closed
_ACTION_TEXT = ("action_id", "block_id", "value", "type")
_COMMAND = ("user_id", "channel_id", "text", "trigger_id", "response_url")  # Slack sends all
METADATA_MAX = 3000  # Slack's limit on a view's private_metadata
_ID = re.compile(r"[!-~]+")  # printable ASCII, no space
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")  # a name or an address (IPv6 unbracketed)


def shape_error(body: object) -> str | None:
    """None when ``body`` has the shape Slack sends; else which field is wrong."""
    if not isinstance(body, Mapping):
        return "the payload is not an object"
    return (_common(body) or _command(body) or _interaction(body)
            or _event(body))


def _common(body: Mapping[str, Any]) -> str | None:
    for name in _TEXT:
        if not _text_or_absent(body.get(name)):
            return f"{name} is not text"
    url = body.get("response_url")
    if url is not None and not _url(url):
        return "response_url is not a URL"  # the bot answers through it
    if "view" in body and not isinstance(body["view"], Mapping):
        return "view is not an object"  # Bolt reads a view's ids in any payload
    if not isinstance(body.get("is_enterprise_install", False), bool | str):
        return "is_enterprise_install is not a flag"
    for name, fields in _OBJECTS.items():
        value = body.get(name)
        if value is None or (isinstance(value, str) and name in ("team", "enterprise", "user")):
            continue  # Bolt reads a bare id too; None: org-wide installs send "team": null
        if not isinstance(value, Mapping):
            return f"{name} is not an object"
        wrong = next((f for f in fields if not _text_or_absent(value.get(f))), None)
        if wrong:
            return f"{name}.{wrong} is not text"
    authorizations = body.get("authorizations")
    if authorizations is not None and not (
            isinstance(authorizations, list)
            and all(isinstance(a, Mapping) for a in authorizations)):
        return "authorizations is not a list of objects"
    return None


def _command(body: Mapping[str, Any]) -> str | None:
    if "command" in body and not all(isinstance(body.get(f), str) for f in _COMMAND):
        return f"a command without one of {', '.join(_COMMAND)}"
    return None


def _interaction(body: Mapping[str, Any]) -> str | None:
    kind = body.get("type")
    if kind not in ("block_actions", "view_submission", "view_closed", "shortcut",
                    "message_action", "block_suggestion"):
        return None
    if not isinstance(body.get("user"), Mapping) or not _an_id(body["user"].get("id")):
        return "user.id is missing"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions):
            return "actions is not a list of actions"
        for action in actions:
            if not isinstance(action, Mapping):
                return "an action is not an object"
            wrong = next((f for f in _ACTION_TEXT if not _text_or_absent(action.get(f))), None)
            if wrong:
                return f"actions[].{wrong} is not text"
            if not _an_id(action.get("action_id")):
                return "an action has no action_id"  # what Bolt matches listeners on
    view = body.get("view")
    if view is None and kind not in ("view_submission", "view_closed"):
        return None
    if not isinstance(view, Mapping):
        return "view is not an object"
    wrong = next((f for f in _VIEW_TEXT if not _text_or_absent(view.get(f))), None)
    if wrong:
        return f"view.{wrong} is not text"
    if kind in ("view_submission", "view_closed"):
        missing = next((f for f in _VIEW_SENT if not _an_id(view.get(f))), None)
        if missing:
            return f"view.{missing} is missing"  # Slack sends each; Bolt and the bot read them
    if len(view.get("private_metadata") or "") > METADATA_MAX:
        return "view.private_metadata is longer than Slack allows"
    state = view.get("state")
    if state is None and kind != "view_submission":
        return None
    return _state_error(state)


def _state_error(state: object) -> str | None:
    """``state.values[block_id][action_id]`` is an object per input (Slack always sends
    ``state`` with a submission, ``{"values": {}}`` at the least)."""
    values = state.get("values") if isinstance(state, Mapping) else None
    if not isinstance(values, Mapping):
        return "view.state.values is not an object"
    for block in values.values():
        if not isinstance(block, Mapping) or not all(isinstance(v, Mapping)
                                                     for v in block.values()):
            return "view.state.values holds something other than inputs"
        for element in block.values():
            options = element.get("selected_options")
            if options is not None and not (isinstance(options, list) and all(
                    isinstance(o, Mapping) for o in options)):
                return "view.state.values holds options that are not objects"
            if not _text_or_absent(element.get("value")):
                return "view.state.values holds a value that is not text"
    return None


def _event(body: Mapping[str, Any]) -> str | None:
    event = body.get("event")
    # Bolt looks at ``event`` in every payload (a command's form may carry one too).
    if "event" not in body and body.get("type") != "event_callback":
        return None
    if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
        return "event is not an object with a type"
    if event["type"] != "app_home_opened":  # the one event the bot listens to
        return None
    wrong = next((f for f in ("user", "tab") if not _text_or_absent(event.get(f))), None)
    return f"event.{wrong} is not text" if wrong else None


def _url(text: str) -> bool:
    """An http(s) URL with a host, written as URLs are: printable ASCII, no space."""
    if not (text.isascii() and text.isprintable()) or " " in text:
        return False
    try:
        parts = urlsplit(text)
        return parts.scheme in ("https", "http") and bool(
            parts.hostname and _HOST.fullmatch(parts.hostname))
    except ValueError:  # "Invalid IPv6 URL": a bracket where the host is
        return False


def _an_id(value: object) -> bool:
    """An id Slack sends (a user's, a view's, an action's): one word of printable ASCII."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _text_or_absent(value: object) -> bool:
    return value is None or isinstance(value, str)


def bolt_readable(form: str) -> str | None:
    """A form body (a slash command) re-encoded so that Bolt reads it whole; None when it
    already does. Bolt takes any form body in which the text ``payload`` appears for an
    interactive ``payload=…`` and, finding no such field, reads it as empty (no listener,
    a 404): ``/iothub status payload-hub`` went unanswered. The same fields, with every
    ``payload`` in them written ``%70ayload``, which every form parser reads back as is."""
    if form.startswith("{") or "payload" not in form:
        return None
    fields = parse_qsl(form, keep_blank_values=True)
    if any(name == "payload" for name, _ in fields):
        return None
    return "&".join(f"{_hidden(name)}={_hidden(value)}" for name, value in fields)


def _hidden(text: str) -> str:
    return quote(text, safe="").replace("payload", "%70ayload")
