"""Every kind of request Slack sends the bot, as Slack shapes it (``failover_sandbox.payloads``
and the bot's own dialogs), mutated (``mutations``) or wholly random, then encoded and signed
(or not) as a client would.

A drawn :class:`Request` is plain data, so Hypothesis shrinks and prints it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode

from hypothesis import strategies as st

from bot.domain.model import OperationKind
from bot.slack.board_blocks import RETRY_FAILED, STOP_REST
from bot.slack.messages import APPROVE, REJECT
from bot.slack.modals import CALLBACK_ID, ModalContext
from bot.slack.region_modals import REGION_CALLBACK_ID, RegionContext
from failover_sandbox import payloads
from tests.fuzz.arm import EDGE_HUB, HUB, SPARE_HUB
from tests.fuzz.harness import APP_ID, CHANNEL, OTHER_CHANNEL, SECRET, TRIGGER, USERS, Harness
from tests.fuzz.mutations import deep, dumps, mutated, odd_text, random_json, too_deep
from tests.support import FORM

JSON = "application/json"
COMMAND_TEXTS = ("status {hub}", "list", "list 2", "audit", "audit {hub} 1d", "help",
                 "failover {hub}", "failback {hub}", "failover --region westeurope",
                 "failback --region northeurope", "cancel {request}", "audit --batch {batch}",
                 "drill {hub}", "")
BUTTONS = (APPROVE, REJECT, STOP_REST, RETRY_FAILED, "unknown_action")
# How a request reaches the bot: signed as Slack signs, or not.
SIGNED, UNSIGNED, FORGED, STALE, BAD_TIMESTAMP = (
    "signed", "unsigned", "forged", "stale", "bad timestamp")
NOT_SIGNED = (UNSIGNED, FORGED, STALE, BAD_TIMESTAMP)


@dataclass(frozen=True)
class Request:
    """One HTTP request to ``/slack/events``: its kind (for the report), body and signing."""

    kind: str
    body: bytes
    content_type: str
    signing: str

    def __repr__(self) -> str:
        """Readable in a failure report: the body form-decoded, and cut (it may be huge)."""
        text = unquote_plus(self.body.decode("utf-8", errors="replace"))
        shown = text if len(text) <= 1200 else text[:1200] + f"... ({len(text)} characters)"
        return (f"Request(kind={self.kind!r}, signing={self.signing!r}, "
                f"content_type={self.content_type!r}, body (decoded)={shown!r})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints it
        printer.text(repr(self))

    def sent_as(self, h: Harness) -> tuple[bytes, dict[str, str]]:
        """The body as this example sends it (``Harness.current``), and its headers."""
        fresh = Request(self.kind, h.current(self.body), self.content_type, self.signing)
        return fresh.body, fresh.headers()

    def headers(self) -> dict[str, str]:
        text = self.body.decode("utf-8", errors="replace")  # what the HTTP face verifies
        now = int(time.time())
        if self.signing == UNSIGNED:
            return {"content-type": self.content_type}
        signed = {SIGNED: (SECRET, now), FORGED: ("a guess", now),
                  STALE: (SECRET, now - 6 * 60), BAD_TIMESTAMP: (SECRET, now)}[self.signing]
        headers = {k.lower(): v for k, v in payloads.signed_headers(
            text, signed[0], timestamp=signed[1], content_type=self.content_type).items()}
        if self.signing == BAD_TIMESTAMP:
            headers["x-slack-request-timestamp"] = "soon"
        return headers


def _ids(h: Harness) -> tuple[str, ...]:
    return (*USERS, CHANNEL, OTHER_CHANNEL, h.server.slack.team_id, "T0ELSEWHERE", HUB,
            EDGE_HUB, SPARE_HUB, h.request_id, h.batch_id, "fr-0", "fb-0")


def form_body(fields: dict[str, object]) -> bytes:
    """Form-encoded as a browser would; a lone surrogate goes as the bytes it would be."""
    pairs = [(str(k), v if isinstance(v, str) else dumps(v)) for k, v in fields.items()]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


def interaction_body(payload: object) -> bytes:
    # json.dumps escapes every non-ASCII character: a lone surrogate travels as "\ud800".
    return form_body({"payload": dumps(payload)})


def unpacked(body: str) -> dict[str, object]:
    """A ``payload=`` form body's JSON."""
    return json.loads(parse_qs(body)["payload"][0])


# -- the real shapes ----------------------------------------------------------------------

def command_fields(h: Harness, text: str, user: str) -> dict[str, object]:
    slack = h.server.slack
    body = payloads.slash_command(
        command="/iothub", text=text.format(hub=HUB, request=h.request_id, batch=h.batch_id),
        user_id=user, user_name=user.lower(), team_id=slack.team_id, channel_id=CHANNEL,
        channel_name="incident", response_url=h.server.response_url("fuzz"),
        trigger_id=TRIGGER)
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()} | {
        "api_app_id": APP_ID}


def click_payload(h: Harness, action_id: str, value: str, user: str) -> dict[str, object]:
    slack = h.server.slack
    message = {"ts": "1700000000.000100", "user": slack.bot_user_id, "text": "approval",
               "blocks": []}
    body = payloads.button_click(
        user_id=user, user_name=user.lower(), team_id=slack.team_id, channel_id=CHANNEL,
        channel_name="incident", message=message, trigger_id=TRIGGER,
        action={"type": "button", "action_id": action_id, "block_id": "decision",
                "value": value}, response_url=h.server.response_url("fuzz-click"))
    return unpacked(body)


def submission_payload(h: Harness, regional: bool, user: str) -> dict[str, object]:
    slack = h.server.slack
    if regional:
        metadata = RegionContext("northeurope", OperationKind.FAILOVER, CHANNEL).dump()
        option = {"text": {"type": "plain_text", "text": EDGE_HUB}, "value": EDGE_HUB}
        values: dict[str, object] = {
            "hubs": {"hubs": {"type": "multi_static_select", "selected_options": [option]}},
            "confirm_region": {"confirm_region": {"type": "plain_text_input",
                                                  "value": "northeurope"}},
            "reason": {"reason": {"type": "plain_text_input", "value": "INC-9 region down"}}}
        callback = REGION_CALLBACK_ID
    else:
        metadata = ModalContext(SPARE_HUB, OperationKind.FAILOVER, CHANNEL,
                                "westeurope").dump()
        values = {
            "confirm_hub_name": {"confirm_hub_name": {"type": "plain_text_input",
                                                      "value": SPARE_HUB}},
            "reason": {"reason": {"type": "plain_text_input", "value": "INC-9 outage"}}}
        callback = CALLBACK_ID
    view = {"id": "V0FUZZ" + ("REGION" if regional else "HUB"), "type": "modal",
            "callback_id": callback, "private_metadata": metadata, "hash": "1.h1", "blocks": [],
            "state": {"values": values}, "app_id": APP_ID, "team_id": slack.team_id}
    return unpacked(payloads.view_submission(user_id=user, user_name=user.lower(),
                                              team_id=slack.team_id, view=view,
                                              trigger_id=TRIGGER))


def event_payload(h: Harness, user: str, challenge: bool) -> dict[str, object]:
    slack = h.server.slack
    if challenge:
        return {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                "type": "url_verification"}
    return json.loads(payloads.app_home_opened(user_id=user, team_id=slack.team_id,
                                               channel_id="D0HOME"))


# -- strategies ---------------------------------------------------------------------------

signings = st.sampled_from((SIGNED, *NOT_SIGNED))
users = st.sampled_from(USERS)


@st.composite
def commands(draw: st.DrawFn, h: Harness, signing: st.SearchStrategy[str]) -> Request:
    text = draw(st.sampled_from(COMMAND_TEXTS))
    fields = command_fields(h, text, draw(users))
    if draw(st.booleans()):  # what people type, oddly
        at = draw(st.integers(0, len(str(fields["text"]))))
        fields["text"] = str(fields["text"])[:at] + draw(odd_text) + str(fields["text"])[at:]
    fields = draw(mutated(fields, _ids(h), max_mutations=2))
    body = form_body(fields) if isinstance(fields, dict) else form_body({"text": fields})
    return Request("command", body, FORM, draw(signing))


@st.composite
def block_actions(draw: st.DrawFn, h: Harness, signing: st.SearchStrategy[str]) -> Request:
    action = draw(st.sampled_from(BUTTONS))
    value = draw(st.sampled_from((h.request_id, h.batch_id, "fr-0", "fb-0")))
    payload = draw(mutated(click_payload(h, action, value, draw(users)), _ids(h)))
    return Request(f"block_actions {action}", interaction_body(payload), FORM, draw(signing))


@st.composite
def view_submissions(draw: st.DrawFn, h: Harness, signing: st.SearchStrategy[str]) -> Request:
    regional = draw(st.booleans())
    payload = draw(mutated(submission_payload(h, regional, draw(users)), _ids(h)))
    kind = "view_submission " + (REGION_CALLBACK_ID if regional else CALLBACK_ID)
    return Request(kind, interaction_body(payload), FORM, draw(signing))


@st.composite
def typed_reasons(draw: st.DrawFn, h: Harness) -> Request:
    """A real submission, only its reason odd: what people paste (a lone surrogate, control
    characters, 40,000 characters), everything else as Slack sends it."""
    regional = draw(st.booleans())
    payload = submission_payload(h, regional, draw(users))
    view = payload["view"]
    assert isinstance(view, dict)
    reason = view["state"]["values"]["reason"]["reason"]
    at = draw(st.integers(0, len(reason["value"])))
    reason["value"] = reason["value"][:at] + draw(odd_text) + reason["value"][at:]
    kind = "reason in " + (REGION_CALLBACK_ID if regional else CALLBACK_ID)
    return Request(kind, interaction_body(payload), FORM, SIGNED)


@st.composite
def events(draw: st.DrawFn, h: Harness, signing: st.SearchStrategy[str]) -> Request:
    challenge = draw(st.booleans())
    payload = draw(mutated(event_payload(h, draw(users), challenge), _ids(h)))
    body = dumps(payload).encode()
    return Request("url_verification" if challenge else "event app_home_opened", body, JSON,
                   draw(signing))


@st.composite
def random_bodies(draw: st.DrawFn, signing: st.SearchStrategy[str]) -> Request:
    """Bodies no Slack client would send: bytes, text, JSON, deep nesting, odd forms."""
    how = draw(st.sampled_from(("bytes", "text", "json", "form", "payload")))
    content_type = draw(st.sampled_from((FORM, JSON, "text/plain", "")))
    if how == "bytes":
        body = draw(st.binary(max_size=300))
    elif how == "text":
        body = draw(st.text(max_size=300)).encode()
    elif how == "json":
        body = dumps(draw(random_json)).encode()
        content_type = JSON
    elif how == "form":
        body = form_body(draw(st.dictionaries(st.text(max_size=10), odd_text, max_size=5)))
    else:
        body = interaction_body(draw(random_json))
        content_type = FORM
    return Request(f"random {how}", body, content_type, draw(signing))


@st.composite
def too_deep_bodies(draw: st.DrawFn, h: Harness, signing: st.SearchStrategy[str]) -> Request:
    """Nesting past what a JSON parser's recursion can take: the whole body, or one value of
    a real payload."""
    depth = draw(too_deep)
    how = draw(st.sampled_from(("json body", "payload", "in a click", "in a submission",
                                "in an event")))
    if how == "json body":
        return Request("deep json", dumps(deep(depth)).encode(), JSON, draw(signing))
    if how == "payload":
        return Request("deep payload", b"payload=" + b"%5B" * depth + b"%5D" * depth, FORM,
                       draw(signing))
    user = draw(users)
    payload = (click_payload(h, APPROVE, h.request_id, user) if how == "in a click"
               else submission_payload(h, False, user) if how == "in a submission"
               else event_payload(h, user, challenge=False))
    payload[draw(st.sampled_from(sorted(payload)))] = deep(depth)
    if how == "in an event":
        return Request("deep in an event", dumps(payload).encode(), JSON, draw(signing))
    return Request(f"deep {how}", interaction_body(payload), FORM, draw(signing))


def any_request(h: Harness, signing: st.SearchStrategy[str]) -> st.SearchStrategy[Request]:
    return st.one_of(commands(h, signing), block_actions(h, signing),
                     view_submissions(h, signing), events(h, signing), random_bodies(signing),
                     too_deep_bodies(h, signing))
