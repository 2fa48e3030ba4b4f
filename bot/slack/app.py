"""The Bolt app that does the work: every listener, wired to the service, the notifier and
an executor (the front's, which only acks, is ``bot.slack.front_app``)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings
from bot.service import FailoverService
from bot.slack import listeners
from bot.slack.actors import ActorResolver
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.front_app import new_bolt_app
from bot.slack.guard import Identity, only_our_workspace, own_identity
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
    app = new_bolt_app(settings.signing_secret, client, executor=executor,
                       verify_token=verify_token, verify_requests=verify_requests)
    if verify_token and workspace is None:
        workspace = own_identity(client)
    if workspace is not None:  # the work process only sees what the front let through
        app.use(only_our_workspace(workspace))
    boards = boards or SlackBoardNotifier(client, service.boards)
    deps = ListenerDeps(service=service, actors=actor_resolver, notifier=notifier,
                        executor=executor, boards=boards)
    listeners.register(app, deps, access=lambda: service.access)
    return app
