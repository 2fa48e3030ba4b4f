"""The front role: verification, acks, the durable hand-over of every lazy half, and
``/healthz``, ``/readyz`` and ``/metrics``. It needs the store (health) and Slack's client
(Bolt's), nothing else: no Azure credential, no gateway, no service, no poller. Its Bolt app
cannot run a lazy half (``bot.slack.lazy.LazyHalfInFront``), so a hand-over that stopped
working fails loudly instead of doing the work here."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from slack_bolt import App
from slack_sdk import WebClient
from starlette.applications import Starlette

from bot.bootstrap import database_health
from bot.config import Settings
from bot.slack.app import create_front_app
from bot.slack.guard import Identity
from bot.slack.lazy import LazyJob
from bot.store.base import UnitOfWork
from bot.telemetry import Metrics, render_latest
from bot.web import create_web_app


class WorkHandle(Protocol):
    """Where the front's lazy halves go (``bot.work_process.WorkProcess``)."""

    def send(self, job: LazyJob) -> None: ...

    def render_metrics(self, accept: str | None) -> tuple[bytes, str]: ...

    def state(self) -> str: ...

    def answering(self) -> AbstractContextManager[object]: ...


@dataclass(frozen=True)
class Front:
    bolt_app: App
    web_app: Starlette


def build_front(settings: Settings, *, client: WebClient, workspace: Identity,
                work: WorkHandle, store: Callable[[], UnitOfWork], metrics: Metrics) -> Front:
    """``store`` is only probed for health; ``metrics`` are this process's own, served while
    the work process cannot answer."""
    bolt_app = create_front_app(settings=settings, client=client, workspace=workspace,
                                hand_over=work.send)

    def own_metrics(accept: str | None) -> tuple[bytes, str]:
        return render_latest(metrics, accept)

    web_app = create_web_app(
        bolt_app, signing_secret=settings.signing_secret,
        database_health=lambda: database_health(store),
        work_process_state=work.state, answering=work.answering,
        metrics_renderer=work.render_metrics, own_metrics=own_metrics)
    return Front(bolt_app, web_app)
