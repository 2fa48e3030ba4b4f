"""``failover-bot doctor``: one pass/fail line per thing the bot depends on."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TextIO

from bot.config import ConfigError, Settings
from bot.domain.clock import SystemClock
from bot.domain.consumers import ConsumerKind
from bot.domain.limit_warnings import lenient_limit_warnings
from bot.domain.model import HubState
from bot.domain.permissions import missing
from bot.hubs.activity import READ_PERMISSION, ActivityLogReader
from bot.hubs.consumers import RESTART_PERMISSIONS
from bot.hubs.gateway import Forbidden, GatewayError, IotHubGateway
from bot.hubs.hub_metrics import READ_PERMISSION as METRICS_PERMISSION
from bot.store.base import StoreUnavailable
from bot.telemetry import hold_start_up_logs, release_start_up_logs

RESTARTS = {ConsumerKind.FUNCTION_APP: {RESTART_PERMISSIONS[0]},
            ConsumerKind.STREAM_ANALYTICS: set(RESTART_PERMISSIONS[1:])}
# What the bot calls in Slack; usergroups:read only matters when groups are configured.
REQUIRED_SCOPES = ("commands", "chat:write")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warn: bool = False  # passes, but an operator should look at it

    @property
    def label(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warn else "PASS"


def check_config(settings: Settings) -> Iterator[Check]:
    yield Check("configuration", True, "all variables parsed")
    missing = [name for name, value in (("SLACK_BOT_TOKEN", settings.slack_bot_token),
                                        ("SLACK_SIGNING_SECRET", settings.slack_signing_secret))
               if value is None]
    if settings.socket_mode and "SLACK_SIGNING_SECRET" in missing:
        missing.remove("SLACK_SIGNING_SECRET")  # Socket Mode does not sign requests
    if missing:
        yield Check("slack settings", False, f"{', '.join(missing)} not set")
    if not settings.azure_subscription_id:
        yield Check("azure settings", False, "AZURE_SUBSCRIPTION_ID not set")
    for warning in lenient_limit_warnings(settings.limits):
        yield Check("azure limits", True, warning, warn=True)
    if not settings.bot_approvers and settings.bot_require_approval:
        yield Check("approvers", True,
                    "BOT_APPROVERS is empty: anyone but the requester may approve", warn=True)


def check_database(url: str) -> Iterator[Check]:
    from bot.store import migrate

    head = migrate.head_revision()
    missing = migrate.missing_sqlite_file(url)
    if missing:  # connecting would create it: a check changes nothing
        yield Check("database", True, f"no SQLite file at {missing} yet", warn=True)
        current = None
    else:
        try:
            current = migrate.current_revision(url)
        except StoreUnavailable as exc:
            yield Check("database", False, f"cannot connect: {exc}")
            return
        yield Check("database", True, "connected")
    if current == head:
        yield Check("migrations", True, f"at {head}")
    else:
        applied = f"at {current}" if current else "no migrations applied yet"
        yield Check("migrations", False,
                    f"{applied}, newest is {head}: run `failover-bot db upgrade`")


def check_slack(client: Any, group_ids: frozenset[str]) -> Iterator[Check]:
    """``client`` is a slack_sdk WebClient; auth.test's ``x-oauth-scopes`` header lists scopes."""
    from slack_sdk.errors import SlackApiError

    try:
        response = client.auth_test()
    except SlackApiError as exc:
        yield Check("slack auth", False, f"auth.test failed: {exc.response.get('error')}")
        return
    except OSError as exc:
        yield Check("slack auth", False, f"cannot reach Slack: {exc.__class__.__name__}")
        return
    yield Check("slack auth", True, f"bot {response.get('user')} in team {response.get('team')}")
    headers = {k.lower(): v for k, v in (response.headers or {}).items()}
    raw = headers.get("x-oauth-scopes")
    if raw is None:
        yield Check("slack scopes", True, "Slack did not list the token's scopes; not checked")
        return
    granted = {s.strip() for s in (raw[0] if isinstance(raw, list) else raw).split(",")}
    needed = set(REQUIRED_SCOPES) | ({"usergroups:read"} if group_ids else set())
    lacking = sorted(needed - granted)
    if lacking:
        yield Check("slack scopes", False, f"missing {', '.join(lacking)} (see manifest.yml)")
    else:
        yield Check("slack scopes", True, ", ".join(sorted(needed)))


def check_socket_mode(client: Any, app_token: str, api_url: str) -> Iterator[Check]:
    """Whether Slack hands a Socket Mode URL out for SLACK_APP_TOKEN, as ``serve`` will ask."""
    from bot.slack.client import SlackUnavailable, check_app_token

    try:
        check_app_token(client, app_token, api_url)
    except (ConfigError, SlackUnavailable) as exc:
        yield Check("slack socket mode", False, str(exc))
        return
    yield Check("slack socket mode", True, "SLACK_APP_TOKEN opens a Socket Mode connection")


def check_azure(subscriptions: tuple[str, ...],
                gateway_for: Callable[[str], IotHubGateway], *,
                verify: bool = True) -> Iterator[Check]:
    for subscription in subscriptions:
        gateway = gateway_for(subscription)
        try:
            hubs = gateway.list_hubs()
        except GatewayError as exc:
            code = f" ({exc.code})" if exc.code else ""
            yield Check(f"azure {subscription}", False,
                        f"cannot list hubs{code}: {azure_words(exc.message)}")
            continue
        yield Check(f"azure {subscription}", True, f"{len(hubs)} IoT hubs visible")
        yield from check_activity_log(subscription, gateway, hubs)
        yield from check_after_move(subscription, gateway, hubs, verify=verify)


_CREDENTIAL_LINE = re.compile(r"(\w+Credential): (.*)")
_UNAVAILABLE = re.compile(r"unavailable|not installed|not found|could not be found|requires",
                          re.IGNORECASE)
_MOST_WORDS = 400


def azure_words(message: str) -> str:
    """Azure's message on one line. DefaultAzureCredential's spans a dozen (one per credential
    it tried, links to guides): keep its first line and the words of the credential that
    failed, or, when none is set up, each one's short reason; drop the links."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return message
    tried = [m.groups() for m in map(_CREDENTIAL_LINE.fullmatch, lines) if m]
    if not tried:
        return _clip(" ".join(lines))
    name, words = tried[-1]
    if not _UNAVAILABLE.search(words):  # the chain stopped at a credential that failed
        return _clip(f"{lines[0]} {name}: {_short(words)}")
    return _clip(f"{lines[0]} None is set up ("
                 + "; ".join(f"{name}: {_short(words)}" for name, words in tried) + ")")


def _short(words: str) -> str:
    # "XCredential authentication unavailable. Why. See <link>. More." -> "Why"
    sentences = re.split(r"(?<=\.)\s+", words)
    kept = [s for s in sentences if "://" not in s and not s.startswith(("To mitigate", "Visit"))
            and not re.fullmatch(r"\w*Credential (authentication )?unavailable\.", s)]
    return (kept[0] if kept else "unavailable").removesuffix(".")


def _clip(text: str) -> str:
    return text if len(text) <= _MOST_WORDS else text[:_MOST_WORDS - 1].rstrip() + "…"


def check_activity_log(subscription: str, gateway: IotHubGateway,
                       hubs: list[HubState]) -> Iterator[Check]:
    """Quota and cool-down count operations done outside the bot only if it can read them."""
    name = f"activity log {subscription}"
    if not isinstance(gateway, ActivityLogReader):
        return
    if not hubs:
        yield Check(name, True, "not checked: no IoT hub to read it for", warn=True)
        return
    hub = hubs[0]
    try:
        gateway.failover_operations(hub.ref, SystemClock().now() - timedelta(hours=1))
    except Forbidden as exc:
        yield Check(name, False, f"cannot read it ({exc.code}): grant {READ_PERMISSION}; "
                    "until then quota and cool-down count only this bot's own operations")
        return
    except GatewayError as exc:
        yield Check(name, True, f"not checked: {exc.code or exc.message}", warn=True)
        return
    yield Check(name, True, f"readable ({READ_PERMISSION}, checked on {hub.name})")


def check_after_move(subscription: str, gateway: IotHubGateway, hubs: list[HubState], *,
                     verify: bool) -> Iterator[Check]:
    """The optional permissions: reading hubs' metrics (verification) and restarting the
    consumers of the hubs that opted in, asked of Azure (``Microsoft.Authorization``)."""
    permissions_on = getattr(gateway, "permissions_on", None)
    if permissions_on is None:
        return
    groups: dict[tuple[str, str], set[str]] = {}
    if verify:
        for hub in hubs:
            groups.setdefault((hub.ref.subscription_id, hub.ref.resource_group),
                              set()).add(METRICS_PERMISSION)
    for hub in hubs:
        for consumer in hub.consumers.to_restart if hub.consumers else ():
            groups.setdefault((consumer.subscription_id, consumer.resource_group), set()).update(
                RESTARTS[consumer.kind])
    for (sub, group), actions in sorted(groups.items()):
        name = f"permissions {group}" + ("" if sub == subscription else f" ({sub})")
        try:
            lacking = missing(sorted(actions), permissions_on(sub, group))
        except GatewayError as exc:
            yield Check(name, True, f"not checked ({exc.code or exc.message}): grant "
                        "Microsoft.Authorization/permissions/read to let doctor ask", warn=True)
            continue
        if not lacking:
            yield Check(name, True, f"granted: {', '.join(sorted(actions))}")
        elif set(lacking) == {METRICS_PERMISSION}:
            yield Check(name, True, f"{METRICS_PERMISSION} missing: every verdict after a move "
                        "will be \"could not verify\" (grant it, or set BOT_VERIFY_WINDOW=0)",
                        warn=True)
        else:
            yield Check(name, False, f"missing {', '.join(lacking)}: hubs that opted in to "
                        "restarting their consumers will have them reported, not restarted")


def run_doctor(settings: Settings, out: TextIO, *, slack_client: Any = None,
               gateway_for: Callable[[str], IotHubGateway] | None = None) -> int:
    """Print a line per check; exit status 1 when any check failed. What the libraries log
    meanwhile (azure-identity warns what a check line already says) is not printed."""
    hold_start_up_logs()
    try:
        return _run_checks(settings, out, slack_client=slack_client, gateway_for=gateway_for)
    finally:
        release_start_up_logs(emit=False)


def _run_checks(settings: Settings, out: TextIO, *, slack_client: Any,
                gateway_for: Callable[[str], IotHubGateway] | None) -> int:
    checks = list(check_config(settings))
    checks += check_database(settings.database_url.get_secret_value())
    if settings.slack_bot_token is not None:
        if slack_client is None:
            from bot.slack.client import make_web_client

            slack_client = make_web_client(settings.slack_bot_token.get_secret_value(),
                                           settings.slack_api_url)
        checks += check_slack(slack_client, settings.access.group_ids)
        if settings.slack_app_token is not None:
            checks += check_socket_mode(slack_client, settings.slack_app_token.get_secret_value(),
                                        settings.slack_api_url)
    checks += check_azure(settings.azure_subscription_id,
                          gateway_for or _azure_gateway_for(settings),
                          verify=settings.verify_rules is not None)
    for check in checks:
        out.write(f"{check.label}  {check.name}: {' '.join(check.detail.split())}\n")
    failed = sum(not c.ok for c in checks)
    warnings = sum(c.ok and c.warn for c in checks)
    out.write(f"doctor: {len(checks) - failed} of {len(checks)} checks passed"
              f"{f' ({warnings} with a warning)' if warnings else ''}\n")
    return 1 if failed else 0


def _azure_gateway_for(settings: Settings) -> Callable[[str], IotHubGateway]:
    def build(subscription: str) -> IotHubGateway:
        from bot.bootstrap import azure_gateway

        return azure_gateway(settings.model_copy(
            update={"azure_subscription_id": (subscription,)}), SystemClock())

    return build
