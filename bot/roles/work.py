"""The work role: the service behind the gateway, the Slack client, a Bolt app that runs the
lazy halves the front hands over, the notifier and the poller. No HTTP face: the front
serves ``/healthz``, ``/readyz`` and ``/metrics`` (asking this process for its metrics)."""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk import WebClient

from bot.bootstrap import Components, make_poller
from bot.poller import Poller
from bot.slack.actors import SlackActorResolver
from bot.slack.app import create_app
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.guard import Identity
from bot.slack.notifier import SlackNotifier


@dataclass
class WorkRole:
    """Everything the work process holds; its poller runs on a thread of its own."""

    components: Components
    bolt_app: App
    notifier: SlackNotifier
    poller: Poller
    _stop: threading.Event = field(default_factory=threading.Event)
    _poller_thread: threading.Thread | None = None

    def start_poller(self) -> None:
        self._poller_thread = threading.Thread(target=self.poller.run_forever, args=(self._stop,),
                                               name="poller", daemon=True)
        self._poller_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller_thread is not None:
            self._poller_thread.join(timeout=30)


def build_work_role(components: Components, *, client: WebClient,
                    executor: Executor | None = None, verify_requests: bool = True,
                    workspace: Identity | None = None) -> WorkRole:
    """The Bolt app, notifier and poller around a wired service. Given ``workspace`` (the
    caller asked ``auth.test`` already), the token is not checked again."""
    settings, service = components.settings, components.service
    notifier = SlackNotifier(client, service.notices, audit_channel=settings.bot_audit_channel)
    boards = SlackBoardNotifier(client, service.boards)
    bolt_app = create_app(
        service, settings=settings, client=client, notifier=notifier, executor=executor,
        actor_resolver=SlackActorResolver(client, settings.access.group_ids),
        verify_requests=verify_requests, boards=boards,
        # Else auth.test now: a bad token fails it.
        verify_token=workspace is None, workspace=workspace)
    return WorkRole(components, bolt_app, notifier,
                  make_poller(components, notifier, boards=boards))
