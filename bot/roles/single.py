"""The whole bot in one process, for the sandbox and the tests: the work role (its lazy
halves run on its own executor) behind the HTTP face. ``serve`` never builds this."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from starlette.applications import Starlette

from bot.bootstrap import Components, database_health
from bot.poller import Poller
from bot.roles.work import WorkRole, build_work_role
from bot.slack.notifier import SlackNotifier
from bot.telemetry import render_latest
from bot.web import create_web_app


@dataclass
class Runtime:
    """Everything a single-process bot holds: the work role and its HTTP face."""

    work: WorkRole
    web_app: Starlette

    @property
    def components(self) -> Components:
        return self.work.components

    @property
    def bolt_app(self) -> App:
        return self.work.bolt_app

    @property
    def poller(self) -> Poller:
        return self.work.poller

    @property
    def notifier(self) -> SlackNotifier:
        return self.work.notifier

    def start_poller(self) -> None:
        self.work.start_poller()

    def stop(self) -> None:
        self.work.stop()


def build_runtime(components: Components, *, client: WebClient,
                  executor: Executor | None = None) -> Runtime:
    work = build_work_role(components, client=client, executor=executor)

    def own_metrics(accept: str | None) -> tuple[bytes, str]:
        return render_latest(components.metrics, accept)

    web_app = create_web_app(work.bolt_app,
                             signing_secret=components.settings.signing_secret,
                             database_health=lambda: database_health(components.uow),
                             metrics_renderer=own_metrics, own_metrics=own_metrics)
    return Runtime(work, web_app)
