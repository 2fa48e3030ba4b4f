"""The consumers of a hub's Event Hub-compatible endpoint, as its tags declare them.

After a failover the endpoint changes, and Azure Functions triggers and Stream Analytics jobs
keep reading the old one until restarted. A hub names them in the tag ``failover-bot-consumers``:
comma-separated ARM resource ids, or the short form ``Microsoft.Web/sites/<name>`` for one in
the hub's own subscription and resource group (Azure caps a tag value at 256 characters: two
full ids fill it). The bot restarts them only when the hub opts in, tag
``failover-bot-restart-consumers`` = ``true``; otherwise it lists them to be restarted by hand.

Tags are written by anyone who may tag the hub, so the value is hostile input: cleaned
(:mod:`bot.domain.user_text`), capped in length and in count, and every entry that is not
exactly a Function app or a Stream Analytics job is "not understood" — shown, never acted on,
never an error. Names and reasons here are plain text: the renderer escapes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.hub_ref import HubRef
from bot.domain.user_text import clean

CONSUMERS_TAG = "failover-bot-consumers"
RESTART_TAG = "failover-bot-restart-consumers"
RESTART_YES = "true"
MAX_CONSUMERS = 10  # acted on per hub; more are listed as not understood
# Azure caps a tag value at 256 characters; this cap holds for any other source, and fits
# MAX_CONSUMERS ids of the longest names Azure allows (271 characters each).
MAX_CHARS = 3000
MAX_NOT_UNDERSTOOD = 5  # shown one by one; the rest are counted
_SHOWN_CHARS = 60  # of an entry that is not understood


class ConsumerKind(StrEnum):
    FUNCTION_APP = "Function app"
    STREAM_ANALYTICS = "Stream Analytics job"

    @property
    def resource_type(self) -> str:
        return _TYPES[self]


_TYPES = {ConsumerKind.FUNCTION_APP: "Microsoft.Web/sites",
          ConsumerKind.STREAM_ANALYTICS: "Microsoft.StreamAnalytics/streamingjobs"}
_KINDS = {resource_type.lower(): kind for kind, resource_type in _TYPES.items()}
# Azure's naming rules: sites 2-60 letters, digits, hyphens, not at either end (ASCII only
# here); streaming jobs 3-63 letters, digits, hyphens, underscores, alphanumeric at both ends.
_NAMES = {ConsumerKind.FUNCTION_APP: re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]"),
          ConsumerKind.STREAM_ANALYTICS: re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,61}[A-Za-z0-9]")}
_SUBSCRIPTION = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_GROUP = re.compile(r"[-\w.()]{0,89}[-\w()]")  # 1-90, Unicode letters too, no final period
_FULL = re.compile(r"/subscriptions/([^/]*)/resourceGroups/([^/]*)/providers/(.*)",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Consumer:
    """One Function app or Stream Analytics job that reads the hub's endpoint."""

    kind: ConsumerKind
    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{self.kind.resource_type}/{self.name}")

    @property
    def label(self) -> str:
        """``func-telemetry (Function app)``."""
        return f"{self.name} ({self.kind.value})"

    @property
    def key(self) -> tuple[str, ...]:
        """Azure's ids are case-insensitive: one consumer, however it is written."""
        return (self.kind.value, self.subscription_id.lower(), self.resource_group.lower(),
                self.name.lower())


@dataclass(frozen=True)
class NotUnderstood:
    """An entry of the tag the bot will not act on: what it was (cut short) and why."""

    shown: str
    reason: str

    @property
    def label(self) -> str:
        return f'"{self.shown}" ({self.reason})' if self.shown else self.reason


@dataclass(frozen=True)
class HubConsumers:
    """What a hub's tags declare: its consumers, whether the bot may restart them, and what
    it could not understand."""

    consumers: tuple[Consumer, ...] = ()
    restart: bool = False
    not_understood: tuple[NotUnderstood, ...] = ()

    @property
    def declared(self) -> bool:
        return bool(self.consumers or self.not_understood)

    @property
    def to_restart(self) -> tuple[Consumer, ...]:
        """The consumers the bot acts on after a successful move (none unless opted in)."""
        return self.consumers if self.restart else ()

    @property
    def by_hand(self) -> tuple[Consumer, ...]:
        return () if self.restart else self.consumers


def consumers_of(tags: Mapping[str, str] | None, hub: HubRef) -> HubConsumers:
    """The consumers ``hub``'s tags declare (nothing declared: an empty :class:`HubConsumers`).

    Never raises: whatever the tags hold, the worst outcome is entries not understood.
    """
    tags = tags or {}
    raw = _tag(tags, CONSUMERS_TAG)
    opt_in = _tag(tags, RESTART_TAG)
    restart = (opt_in or "").strip().lower() == RESTART_YES
    notes: list[NotUnderstood] = []
    if opt_in is not None and not restart and opt_in.strip():
        notes.append(NotUnderstood(_shown(opt_in), f"the {RESTART_TAG} tag is not "
                                   f'"{RESTART_YES}": the bot only lists the consumers'))
    if raw is None or not raw.strip():
        return HubConsumers((), restart, tuple(notes))
    if len(raw) > MAX_CHARS:
        notes.append(NotUnderstood("", f"the {CONSUMERS_TAG} tag is {len(raw):,} characters "
                                   f"long, at most {MAX_CHARS:,}: none of it was read"))
        return HubConsumers((), restart, tuple(notes))
    found: dict[tuple[str, ...], Consumer] = {}
    over = 0
    for entry in raw.split(","):
        parsed = _entry(entry.strip(), hub)
        if parsed is None:
            continue
        if isinstance(parsed, NotUnderstood):
            notes.append(parsed)
        elif parsed.key not in found:
            if len(found) < MAX_CONSUMERS:
                found[parsed.key] = parsed
            else:
                over += 1
    if over:
        notes.append(NotUnderstood("", f"{over} more consumer{'s' if over > 1 else ''} left "
                                   f"alone: at most {MAX_CONSUMERS} per hub"))
    if len(notes) > MAX_NOT_UNDERSTOOD:
        rest = len(notes) - MAX_NOT_UNDERSTOOD + 1
        notes[MAX_NOT_UNDERSTOOD - 1:] = [NotUnderstood("", f"{rest} more entries")]
    return HubConsumers(tuple(found.values()), restart, tuple(notes))


def _entry(text: str, hub: HubRef) -> Consumer | NotUnderstood | None:
    if not text:
        return None  # ",," or a final comma
    if clean(text).changed:
        # What Azure's portal shows would not be what the bot acts on ("Trojan Source").
        return NotUnderstood(_shown(text), "holds hidden or control characters")
    return parse_resource_id(text, hub)


def parse_resource_id(text: str, hub: HubRef) -> Consumer | NotUnderstood:
    """One entry: a full ARM id, or ``<namespace>/<type>/<name>`` in the hub's own resource
    group. Keywords, namespaces and types in any case; names as Azure's rules allow."""
    full = _FULL.fullmatch(text)
    if full:
        subscription, group, rest = full.groups()
        if not _SUBSCRIPTION.fullmatch(subscription):
            return NotUnderstood(_shown(text), "not a subscription id after /subscriptions/")
        if not _GROUP.fullmatch(group):
            return NotUnderstood(_shown(text), "not a resource group name")
    elif text.startswith("/") or "/" not in text:
        return NotUnderstood(_shown(text), "not an Azure resource id")
    else:
        subscription, group, rest = hub.subscription_id, hub.resource_group, text
    parts = rest.split("/")
    if len(parts) != 3:
        return NotUnderstood(_shown(text), "not a Function app or a Stream Analytics job "
                             "(Microsoft.Web/sites/… or Microsoft.StreamAnalytics/streamingjobs/…)")
    kind = _KINDS.get(f"{parts[0]}/{parts[1]}".lower())
    if kind is None:
        return NotUnderstood(_shown(text), f"{_shown(parts[0] + '/' + parts[1])} is not a "
                             "Function app or a Stream Analytics job")
    if not _NAMES[kind].fullmatch(parts[2]):
        return NotUnderstood(_shown(text), f"not a {kind.value} name")
    return Consumer(kind, subscription, group, parts[2])


def plan_sentence(declared: HubConsumers) -> str | None:
    """What the dialog and the approval message say about the consumers (``None``: no tag).

    "then restart func-telemetry (Function app) and asa-alerts (Stream Analytics job)", or
    "consumers to restart by hand: …", then what was not understood.
    """
    parts = []
    if declared.to_restart:
        parts.append(f"then restart {_and(c.label for c in declared.to_restart)}")
    if declared.by_hand:
        parts.append(f"consumers to restart by hand: {_and(c.label for c in declared.by_hand)}")
    if declared.not_understood:
        parts.append("not understood in the hub's tags, so left alone: "
                     + "; ".join(n.label for n in declared.not_understood))
    return "; ".join(parts) or None


def plan_to_json(declared: HubConsumers) -> str:
    """What a request keeps of its hub's consumers: what approving it approves."""
    return json.dumps({
        "restart": declared.restart,
        "consumers": [[c.kind.value, c.subscription_id, c.resource_group, c.name]
                      for c in declared.consumers],
        "not_understood": [[n.shown, n.reason] for n in declared.not_understood]})


def plan_from_json(text: str) -> HubConsumers:
    plain = json.loads(text)
    return HubConsumers(
        tuple(Consumer(ConsumerKind(kind), subscription, group, name)
              for kind, subscription, group, name in plain["consumers"]),
        bool(plain["restart"]),
        tuple(NotUnderstood(shown, reason) for shown, reason in plain["not_understood"]))


def _tag(tags: Mapping[str, str], name: str) -> str | None:
    """A tag's value; tag names are case-insensitive in Azure."""
    for key, value in tags.items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def _shown(text: str) -> str:
    """One line, printable (unassigned, private-use or format characters as U+FFFD), short."""
    one_line = "".join(c if c.isprintable() else "\ufffd"
                       for c in " ".join(clean(text).text.split()))
    return one_line if len(one_line) <= _SHOWN_CHARS else one_line[:_SHOWN_CHARS - 1] + "…"


def _and(labels: Iterable[str]) -> str:
    items = list(labels)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
