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
    """The workspace and app this bot's token belongs to (None: not known)."""

    team_id: str | None
    app_id: str | None


def own_identity(client: WebClient, auth: Mapping[str, Any] | None = None) -> Identity:
    """From ``auth.test`` (once, at start-up; ``auth`` is its answer when the caller has it);
    the app id, when auth.test does not say it, from ``bots.info`` of the token's bot."""
    auth = auth if auth is not None else client.auth_test().data  # type: ignore[assignment]
    assert auth is not None
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
    return Identity(team_id or None, app_id or None)


def _team_of(body: dict[str, Any]) -> str | None:
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    return str(team) if team else None


def only_our_workspace(identity: Identity) -> Middleware:
    """A Bolt middleware: a payload naming another team or app is refused with no effect.

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
        team, app = _team_of(body), body.get("api_app_id")
        wrong_team = identity.team_id and team and team != identity.team_id
        wrong_app = identity.app_id and app and app != identity.app_id
        if not (wrong_team or wrong_app):
            return next()
        log.warning("refused a %s for team %s, app %s (this bot is team %s, app %s); "
                    "nothing was done", body.get("type") or body.get("command") or "request",
                    team, app, identity.team_id, identity.app_id or "unknown")
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
