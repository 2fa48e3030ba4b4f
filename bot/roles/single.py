"""The whole bot in one process, for the sandbox and the tests: the work role (its lazy
halves run on its own executor) behind the HTTP face. ``serve`` never builds this."""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk import WebClient
from starlette.applications import Starlette

from bot.bootstrap import Components, database_health
from bot.poller import Poller
from bot.roles.work import RunsPoller, build_worker
from bot.slack.notifier import SlackNotifier
from bot.telemetry import render_latest
from bot.web import create_web_app


@dataclass
class Runtime(RunsPoller):
    """Everything a single-process bot holds: the Bolt app, its HTTP face and the poller."""

    components: Components
    bolt_app: App
    web_app: Starlette
    poller: Poller
    notifier: SlackNotifier
    _stop: threading.Event = field(default_factory=threading.Event)
    _poller_thread: threading.Thread | None = None


def build_runtime(components: Components, *, client: WebClient,
                  executor: Executor | None = None) -> Runtime:
    worker = build_worker(components, client=client, executor=executor)

    def own_metrics(accept: str | None) -> tuple[bytes, str]:
        return render_latest(components.metrics, accept)

    web_app = create_web_app(worker.bolt_app,
                             database_health=lambda: database_health(components.uow),
                             metrics_renderer=own_metrics, own_metrics=own_metrics)
    return Runtime(components, worker.bolt_app, web_app, worker.poller, worker.notifier)
