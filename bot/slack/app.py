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
from bot.slack.priority import AckGate, AfterAckExecutor

log = logging.getLogger(__name__)

OPEN_MAX_WAIT = 1.5  # seconds a views.open may be held back behind pending acks (of 3)
WORK_THREADS = 8  # after-ack work: Azure and Slack calls mostly wait on the network


def create_app(service: FailoverService, *, settings: Settings, client: WebClient,
               actor_resolver: ActorResolver, executor: Executor | None = None,
               notifier: SlackNotifier | None = None, verify_token: bool = True,
               gate: AckGate | None = None) -> App:
    """``executor`` runs the work after each ack (tests pass a synchronous one, used for acks too).

    Acks run on a pool of their own: were they queued behind slow work (Azure reads, database
    writes, Slack calls), Slack's 3-second limit would be at the mercy of that work.
    With ``gate`` (shared with the HTTP face) that work also waits while acks are pending.
    With ``verify_token`` the app calls ``auth.test`` once now, so a bad token fails at start-up.
    """
    ack_executor = executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="slack-ack")
    urgent: Executor
    if executor is not None:
        urgent = executor
    else:
        executor = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="slack-work")
        urgent = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="slack-open")
        if gate is not None:
            executor = AfterAckExecutor(executor, gate)
            # Opening a dialog cannot wait long: Slack's trigger id lives 3 seconds.
            urgent = AfterAckExecutor(urgent, gate, max_wait=OPEN_MAX_WAIT)
    notifier = notifier or SlackNotifier(client, service,
                                         audit_channel=settings.bot_audit_channel)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret \
        else ""
    app = App(client=client, signing_secret=secret, listener_executor=ack_executor,
              token_verification_enabled=verify_token, process_before_response=False,
              name="failover-bot")
    deps = Deps(service=service, actors=actor_resolver, notifier=notifier, executor=executor,
                urgent=urgent)
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)

    @app.error
    def _on_error(error: Exception, body: dict[str, Any]) -> None:
        # Only reached when a listener itself raises; users got their answer from `guarded`.
        log.error("unhandled %s in a %s listener", type(error).__name__, body.get("type", "?"))

    return app
