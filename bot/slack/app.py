"""Build the Bolt app: every listener, wired to the service, the notifier and an executor."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings
from bot.service import FailoverService
from bot.slack import actions, commands, views
from bot.slack.actors import ActorResolver
from bot.slack.deps import Deps
from bot.slack.notifier import SlackNotifier

log = logging.getLogger(__name__)


def create_app(service: FailoverService, *, settings: Settings, client: WebClient,
               actor_resolver: ActorResolver, executor: Executor | None = None,
               notifier: SlackNotifier | None = None, verify_token: bool = True) -> App:
    """``executor`` runs lazy listeners and failover starts (tests pass a synchronous one).

    With ``verify_token`` the app calls ``auth.test`` once now, so a bad token fails at start-up.
    """
    executor = executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="slack")
    notifier = notifier or SlackNotifier(client, service,
                                         audit_channel=settings.bot_audit_channel)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret \
        else ""
    app = App(client=client, signing_secret=secret, listener_executor=executor,
              token_verification_enabled=verify_token, process_before_response=False,
              name="failover-bot")
    deps = Deps(service=service, actors=actor_resolver, notifier=notifier, executor=executor)
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)

    @app.error
    def _on_error(error: Exception, body: dict[str, Any]) -> None:
        # Only reached when a listener itself raises; users got their answer from `guarded`.
        log.error("unhandled %s in a %s listener", type(error).__name__, body.get("type", "?"))

    return app
