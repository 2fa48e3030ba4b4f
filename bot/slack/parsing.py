"""Turn the text after ``/iothub`` into a command, or into usage help (pure, never raises)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.batch import BATCH_ID_USAGE, WELL_FORMED_BATCH_ID
from bot.domain.durations import parse_duration
from bot.domain.model import AuditAction, OperationKind, events_of
from bot.domain.regions import known_region
from bot.domain.rules import check_hub_name

# An escaped Slack mention (``<@U123|alice>``, ``<@U123>``) or a bare user id.
_USER = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>|([UW][A-Z0-9]{2,})")
_REQUEST_ID = re.compile(r"fr-[0-9a-f]{1,32}")
_MAX_PAGE = 10_000


@dataclass(frozen=True)
class RequestOperation:
    kind: OperationKind
    hub: str


@dataclass(frozen=True)
class RequestRegional:
    """``failover --region <region>``: every hub of a region at once (a batch)."""

    kind: OperationKind
    region: str  # the region key (``westeurope``)


@dataclass(frozen=True)
class RequestDrill:
    """``drill <hub>``: the dialog; with ``every`` or ``at``, a schedule; ``cancel``: its end."""

    hub: str
    every: timedelta | None = None
    at: datetime | None = None
    cancel: bool = False


@dataclass(frozen=True)
class ListDrills:
    pass


@dataclass(frozen=True)
class ShowStatus:
    hub: str


@dataclass(frozen=True)
class ListHubs:
    page: int = 1


@dataclass(frozen=True)
class ShowAudit:
    hub: str | None = None
    user: str | None = None
    since: timedelta | None = None
    actions: frozenset[AuditAction] = frozenset()
    kinds: frozenset[OperationKind] = frozenset()
    page: int = 1
    batch: str | None = None  # a regional batch's id (fb-…): its own and its hubs' events


@dataclass(frozen=True)
class CancelRequest:
    request_id: str


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class Usage:
    """Unknown or malformed text; ``problem`` says what was wrong (``None``: plain help)."""

    problem: str | None = None


Command = (RequestOperation | RequestRegional | RequestDrill | ListDrills | ShowStatus | ListHubs
           | ShowAudit | CancelRequest | ShowHelp)

USAGE = """\
`/iothub failover <hub>` – fail a hub over to its paired region (asks for confirmation and approval)
`/iothub failback <hub>` – bring a hub back to its home region
`/iothub failover --region <region>` – every hub active in a failed region, with one approval
`/iothub failback --region <region>` – after the outage, every hub whose home is that region
`/iothub status <hub>` – active region, quota left today, cool-down, open request
`/iothub list [page]` – the hubs I can see and where they are active
`/iothub audit [hub] [--user @someone] [--since 7d] [--status approved,…] [--kind …] [--page N]`
`/iothub audit --batch fb-…` – a regional batch: its approval, stop and every hub's events
`/iothub cancel <request-id>` – withdraw a request that has not started
`/iothub drill <hub>` – rehearse: fail over, verify, wait for the cool-down, fail back, verify
`/iothub drill <hub> --every 90d` (or `--at 2027-01-15T03:00`) – on a schedule; `--cancel` ends it
`/iothub drills` – schedules, the last drill of each hub, hubs never drilled
`/failover …`, `/failback …` – short for `/iothub failover …`, `/iothub failback …`
`/iothub help` – this text"""


def parse_command(text: str, *, default: str | None = None) -> Command | Usage:
    """Parse ``text``; ``default`` is the verb implied by ``/failover`` or ``/failback``."""
    words = _clean(text).split()
    if default:
        words = [default, *words]
    if not words:
        return ShowHelp()
    verb, args = words[0].lower(), words[1:]
    if verb in ("help", "-h", "--help", "?"):
        return ShowHelp()
    if verb in ("failover", "failback") and args and (
            args[0].lower() == "--region" or args[0].lower().startswith("--region=")):
        return _region(args, OperationKind(verb))
    if verb in ("failover", "failback"):
        return _one_hub(args, lambda hub: RequestOperation(OperationKind(verb), hub), verb)
    if verb == "drill":
        return _drill(args)
    if verb == "drills":
        return ListDrills() if not args else Usage("`drills` takes nothing more.")
    if verb == "status":
        return _one_hub(args, ShowStatus, verb)
    if verb == "list":
        return _list(args)
    if verb == "audit":
        return _audit(args)
    if verb == "cancel":
        if len(args) == 1 and _REQUEST_ID.fullmatch(args[0].lower()):
            return CancelRequest(args[0].lower())
        return Usage("`cancel` takes one request id, like `fr-1a2b3c4d`.")
    return Usage(f"I don't know `{verb[:30]}`.")


def _clean(text: str) -> str:
    # Slack HTML-escapes &, < and > in command text.
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


def _one_hub(args: list[str], build: Callable[[str], Command], verb: str) -> Command | Usage:
    if len(args) != 1:
        return Usage(f"`{verb}` takes one hub name, like `/iothub {verb} my-hub`.")
    refusal = check_hub_name(args[0])
    return Usage(refusal.message) if refusal else build(args[0])


_DRILL_USAGE = ("`drill` takes a hub name, and optionally `--every 90d`, `--at "
                "2027-01-15T03:00` (UTC) or `--cancel`.")


def _drill(args: list[str]) -> Command | Usage:
    if not args or args[0].startswith("--"):
        return Usage(_DRILL_USAGE)
    hub, options = args[0], [a.lower() for a in args[1:]]
    refusal = check_hub_name(hub)
    if refusal:
        return Usage(refusal.message)
    if not options:
        return RequestDrill(hub)
    if options == ["--cancel"]:
        return RequestDrill(hub, cancel=True)
    if len(options) == 2 and options[0] == "--every":
        try:
            every = parse_duration(options[1])
        except ValueError:
            return Usage(f"`--every` takes a duration like `90d`, not `{options[1][:20]}`.")
        if every < timedelta(days=1):
            return Usage("`--every` is at least `1d`: Azure allows two failovers a day.")
        return RequestDrill(hub, every=every)
    if len(options) == 2 and options[0] == "--at":
        try:
            typed = datetime.fromisoformat(args[2])
        except ValueError:
            return Usage(f"`--at` takes a UTC time like `2027-01-15T03:00`, not "
                         f"`{args[2][:25]}`.")
        at = typed.replace(tzinfo=UTC) if typed.tzinfo is None else typed.astimezone(UTC)
        return RequestDrill(hub, at=at)
    return Usage(_DRILL_USAGE)


_QUOTES = "\"'“”‘’"


def _region(args: list[str], kind: OperationKind) -> Command | Usage:
    """``--region West Europe``, ``--region "West Europe"``, ``--region=westeurope``."""
    _, _, inline = args[0].partition("=")
    name = " ".join([inline, *args[1:]] if inline else args[1:]).strip().strip(_QUOTES).strip()
    example = f"like `/iothub {kind.value} --region \"West Europe\"` or `--region westeurope`"
    if not name:
        return Usage(f"`{kind.value} --region` takes a region, {example}.")
    key = known_region(name)
    if key is None:
        return Usage(f"`{name[:60]}` is not an Azure region I know; name it {example}.")
    return RequestRegional(kind, key)


def _page(word: str) -> int | None:
    if not (word.isascii() and word.isdigit() and len(word) <= 5):
        return None
    return int(word) if 0 < int(word) <= _MAX_PAGE else None


def _list(args: list[str]) -> Command | Usage:
    if not args:
        return ListHubs()
    page = _page(args[0]) if len(args) == 1 else None
    return ListHubs(page) if page else Usage("`list` takes an optional page number.")


def _audit(args: list[str]) -> Command | Usage:
    fields: dict[str, object] = {}
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if not word.startswith("--"):
            if "hub" in fields or check_hub_name(word):
                return Usage(f"`{word[:60]}` is not a hub name or an option.")
            fields["hub"] = word
            continue
        option, _, value = word[2:].partition("=")
        option = option.lower()
        if not value:
            if not rest:
                return Usage(f"`--{option[:30]}` needs a value.")
            value = rest.pop(0)
        problem = _audit_option(option, value, fields)
        if problem:
            return Usage(problem)
    return ShowAudit(**fields)  # type: ignore[arg-type]


def _audit_option(option: str, value: str, fields: dict[str, object]) -> str | None:
    if option == "user":
        match = _USER.fullmatch(value)
        if not match:
            return "`--user` takes a mention (`@someone`) or a user id."
        fields["user"] = match.group(1) or match.group(2)
    elif option == "since":
        try:
            since = parse_duration(value)
        except ValueError as exc:
            return f"`--since`: {exc}"
        if since > timedelta(days=3650):
            return "`--since` goes back at most ten years."
        fields["since"] = since
    elif option in ("status", "action"):
        try:
            fields["actions"] = events_of([v for v in value.split(",") if v])
        except ValueError as exc:
            return f"`--status`: {exc}"
    elif option == "kind":
        try:
            fields["kinds"] = frozenset(OperationKind(v.strip()) for v in value.lower().split(","))
        except ValueError:
            return "`--kind` is `failover` or `failback`."
    elif option == "batch":
        if not WELL_FORMED_BATCH_ID.fullmatch(value.lower()):
            return f"`--batch`: {BATCH_ID_USAGE}."
        fields["batch"] = value.lower()
    elif option == "page":
        page = _page(value)
        if page is None:
            return "`--page` takes a page number."
        fields["page"] = page
    else:
        return f"Unknown option `--{option[:30]}`."
    return None
