"""Build the Bolt apps: the front's (acks only; every lazy half handed over) and the one
that does the work (every listener, wired to the service, the notifier and an executor)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings
from bot.service import FailoverService
from bot.slack import listeners
from bot.slack.actors import ActorResolver
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.guard import (
    Identity,
    keep_bodies_out_of_bolt_logs,
    only_our_workspace,
    own_identity,
)
from bot.slack.lazy import LazyJob, hand_over_lazy_halves
from bot.slack.listener_deps import ListenerDeps
from bot.slack.notifier import SlackNotifier

log = logging.getLogger(__name__)

WORK_THREADS = 8  # after-ack work: Azure and Slack calls mostly wait on the network


def create_app(service: FailoverService, *, settings: Settings, client: WebClient,
               actor_resolver: ActorResolver, executor: Executor | None = None,
               notifier: SlackNotifier | None = None, verify_token: bool = True,
               verify_requests: bool = True, workspace: Identity | None = None,
               boards: SlackBoardNotifier | None = None) -> App:
    """Every listener is an ack, run at once in the request's thread, and lazy halves.

    The lazy halves run on ``executor`` (tests pass a synchronous one).
    ``verify_requests=False`` is for the work process's app, which only sees requests the
    front has verified. With ``verify_token`` the app calls ``auth.test`` once now, so a bad
    token fails at start-up. ``workspace`` (this token's team and app, when the caller has
    already asked ``auth.test``) refuses payloads meant for another workspace or app; with
    ``verify_token`` and no ``workspace`` it is looked up now.
    """
    executor = executor or ThreadPoolExecutor(max_workers=WORK_THREADS,
                                              thread_name_prefix="slack-work")
    notifier = notifier or SlackNotifier(client, service.notices,
                                         audit_channel=settings.bot_audit_channel)
    app = _bolt_app(settings, client, executor=executor, verify_token=verify_token,
                    verify_requests=verify_requests)
    if verify_token and workspace is None:
        workspace = own_identity(client)
    if workspace is not None:  # the work process only sees what the front let through
        app.use(only_our_workspace(workspace))
    boards = boards or SlackBoardNotifier(client, service.boards)
    deps = ListenerDeps(service=service, actors=actor_resolver, notifier=notifier,
                        executor=executor, boards=boards)
    listeners.register(app, deps, access=lambda: service.access)
    return app


def create_front_app(*, settings: Settings, client: WebClient, workspace: Identity,
                     hand_over: Callable[[LazyJob], None]) -> App:
    """The front's app: it verifies, checks the workspace and acks; each lazy half goes to
    ``hand_over`` (the work process, ``bot.slack.lazy``). It holds no service: a lazy half
    that reached its runner anyway raises ``LazyHalfInFront`` (a 500 and a logged error)."""
    app = _bolt_app(settings, client, executor=None, verify_token=False,
                    verify_requests=True)
    app.use(only_our_workspace(workspace))
    listeners.register(app, None, access=lambda: settings.access)
    hand_over_lazy_halves(app, hand_over)
    return app


def _bolt_app(settings: Settings, client: WebClient, *, executor: Executor | None,
              verify_token: bool, verify_requests: bool) -> App:
    secret = settings.signing_secret
    # process_before_response: acks are pure and quick, so they run in the request's own
    # thread rather than behind a hop to an executor.
    keep_bodies_out_of_bolt_logs()
    app = App(client=client, signing_secret=secret, listener_executor=executor,
              token_verification_enabled=verify_token, process_before_response=True,
              request_verification_enabled=verify_requests, name="failover-bot")

    @app.error
    def _on_error(error: Exception, body: dict[str, Any]) -> None:
        # Only reached when a listener itself raises; users got their answer from `guarded`.
        log.error("unhandled %s in a %s listener", type(error).__name__, body.get("type", "?"))

    return app
