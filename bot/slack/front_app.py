"""The front's Bolt app: it verifies, checks the workspace and acks; each lazy half goes to
``hand_over`` (the work process, ``bot.slack.lazy``). It holds no service, and imports none:
the front stays small (``bot.roles.front``). A lazy half that reached its runner anyway
raises ``LazyHalfInFront`` (a 500 and a logged error)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.domain.policy import AccessPolicy
from bot.slack import listeners
from bot.slack.guard import Identity, keep_bodies_out_of_bolt_logs, only_our_workspace
from bot.slack.lazy import LazyJob, hand_over_lazy_halves

log = logging.getLogger(__name__)


def create_front_app(*, signing_secret: str, access: AccessPolicy, client: WebClient,
                     workspace: Identity, hand_over: Callable[[LazyJob], None]) -> App:
    app = new_bolt_app(signing_secret, client, executor=None, verify_token=False,
                       verify_requests=True)
    app.use(only_our_workspace(workspace))
    listeners.register(app, None, access=lambda: access)
    hand_over_lazy_halves(app, hand_over)
    return app


def new_bolt_app(signing_secret: str, client: WebClient, *, executor: Executor | None,
                 verify_token: bool, verify_requests: bool) -> App:
    """A Bolt app as both roles make it. process_before_response: acks are pure and quick,
    so they run in the request's own thread rather than behind a hop to an executor."""
    keep_bodies_out_of_bolt_logs()
    app = App(client=client, signing_secret=signing_secret, listener_executor=executor,
              token_verification_enabled=verify_token, process_before_response=True,
              request_verification_enabled=verify_requests, name="failover-bot")

    @app.error
    def _on_error(error: Exception, body: dict[str, Any]) -> None:
        # Only reached when a listener itself raises; users got their answer from `guarded`.
        log.error("unhandled %s in a %s listener", type(error).__name__, body.get("type", "?"))

    return app
