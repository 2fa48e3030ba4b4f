"""What the Bolt app refuses before any listener runs: requests for another workspace or
another app, and unsigned bodies in its logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

VERIFICATION_LOGGER = "slack_bolt.RequestVerification"
OTHER_WORKSPACE = "This bot serves another Slack workspace; nothing was done."


@dataclass(frozen=True)
class Identity:
    """The workspace and app this bot's token belongs to (None: not known); on Enterprise
    Grid, the organisation too, and whether the app is installed org-wide (then payloads
    come from any workspace of the organisation, some with no team at all)."""

    team_id: str | None
    app_id: str | None
    enterprise_id: str | None = None
    org_wide: bool = False


def own_identity(client: WebClient, auth: Mapping[str, Any] | None = None) -> Identity:
    """From ``auth.test`` (once, at start-up; ``auth`` is its answer when the caller has it);
    the app id, when auth.test does not say it, from ``bots.info`` of the token's bot."""
    if auth is None:
        answer = client.auth_test().data
        if not isinstance(answer, dict):  # the Web API answers JSON; anything else is no identity
            raise TypeError(f"auth.test answered {type(answer).__name__}, not a JSON object")
        auth = answer
    team_id, app_id = auth.get("team_id"), auth.get("app_id")
    if not app_id and auth.get("bot_id"):
        try:
            app_id = (client.bots_info(bot=auth["bot_id"]).get("bot") or {}).get("app_id")
        except SlackApiError as exc:
            log.info("the app id is not known (bots.info: %s); checking the workspace only",
                     exc.response.get("error"))
        except OSError as exc:  # Slack unreachable right after auth.test answered
            log.warning("the app id is not known (bots.info: %s); checking the workspace only",
                        exc)
    return Identity(team_id or None, app_id or None, auth.get("enterprise_id") or None,
                    auth.get("is_enterprise_install") is True)


@dataclass(frozen=True)
class Origin:
    """Where a payload says it comes from (``bot.slack.shapes`` has checked the types)."""

    team: str | None
    enterprise: str | None
    user_team: str | None
    app: str | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Origin:
        team, enterprise = body.get("team"), body.get("enterprise")
        user = body.get("user")
        # Events API: the installation it was sent for (Slack's org-wide example payloads).
        authorization = (body.get("authorizations") or [{}])[0]
        return cls(
            team=_id(body.get("team_id")) or _id(team),
            enterprise=(_id(body.get("enterprise_id")) or _id(enterprise)
                        or (_id(team.get("enterprise_id")) if isinstance(team, Mapping)
                            else None)
                        or _id(authorization.get("enterprise_id"))),
            user_team=_id(user.get("team_id")) if isinstance(user, Mapping) else None,
            app=_id(body.get("api_app_id")))


def _id(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def refusal(identity: Identity, origin: Origin) -> str | None:
    """Why a payload is not this bot's to act on, or None. A single-workspace install
    needs the payload's team to be its own; an org-wide one (Enterprise Grid), the
    payload's organisation (the team may be absent there). A payload naming neither
    identifies no workspace at all; a user of another team is refused even when the
    payload's team is right."""
    if identity.app_id and origin.app and origin.app != identity.app_id:
        return "another app"
    if identity.team_id is None and identity.enterprise_id is None:
        return None  # auth.test did not say: nothing to compare with
    if origin.team is None and origin.enterprise is None:
        return "no workspace"
    if identity.org_wide:
        if origin.enterprise != identity.enterprise_id:
            return "another organisation"
    elif origin.team != identity.team_id:
        return "another workspace"
    elif identity.enterprise_id and origin.enterprise \
            and origin.enterprise != identity.enterprise_id:
        return "another organisation"
    # On Grid, a user's team_id is the organisation's id (Slack's payload reference); an
    # org-wide install also meets users of each workspace it is in.
    own = {identity.team_id, identity.enterprise_id} | (
        {origin.team} if identity.org_wide else set())
    if origin.user_team is not None and origin.user_team not in own:
        return "a user of another workspace"
    return None


def only_our_workspace(identity: Identity) -> Middleware:
    """A Bolt middleware: a payload naming another team or app, or no workspace at all, is
    refused with no effect.

    Slack signs with one secret per app, so this guards against a secret shared between
    apps (or leaked from another one) rather than against forgery by strangers.
    """
    return _OnlyOurWorkspace(identity)


class _OnlyOurWorkspace(Middleware):
    """A ``Middleware`` rather than a function: Bolt calls a function middleware through its
    argument injection (every argument it could pass, built for each request), which cost the
    ack path more than the check itself."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse | None:
        body, identity = req.body, self._identity
        origin = Origin.of(body)
        why = refusal(identity, origin)
        if why is None:
            return next()
        log.warning("refused a %s from %s (team %s, user's team %s, organisation %s, app %s; "
                    "this bot is team %s, organisation %s, app %s); nothing was done",
                    body.get("type") or body.get("command") or "request", why, origin.team,
                    origin.user_team, origin.enterprise, origin.app, identity.team_id,
                    identity.enterprise_id, identity.app_id or "unknown")
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps(
                {"response_type": "ephemeral", "text": OTHER_WORKSPACE}),
                headers={"content-type": "application/json"})
        return BoltResponse(status=403, body=json.dumps({"error": "wrong workspace"}))


class WithoutBody(logging.Filter):
    """Bolt logs a refused request's whole body (response_url included) at INFO: keep
    the line, drop the body. Installed on Bolt's request-verification logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "body:" in str(record.msg):
            record.msg = "refused a Slack request with an invalid signature (body not logged)"
            record.args = None
        return True


def keep_bodies_out_of_bolt_logs() -> None:
    logger = logging.getLogger(VERIFICATION_LOGGER)
    if not any(isinstance(f, WithoutBody) for f in logger.filters):
        logger.addFilter(WithoutBody())
