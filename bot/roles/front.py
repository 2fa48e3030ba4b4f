"""The front role: verification, acks, the hand-over of every lazy half, and ``/healthz``,
``/readyz`` and ``/metrics``. It imports no settings library, no SQL and no Azure: what it
needs to know arrives from the work process as a :class:`FrontConfig` (plain values) once
that process has checked the start-up; the database's health and the work's metrics are the
work process's answers. That keeps the front (alive for the bot's whole life) small. Its
Bolt app cannot run a lazy half (``bot.slack.lazy.LazyHalfInFront``), so a hand-over that
stopped working fails loudly instead of doing the work here."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from slack_bolt import App
from slack_sdk import WebClient
from starlette.applications import Starlette

from bot.domain.policy import AccessPolicy
from bot.slack.front_app import create_front_app
from bot.slack.guard import Identity
from bot.slack.lazy import LazyJob
from bot.telemetry import Metrics, render_latest
from bot.web import DatabaseHealth, create_web_app

if TYPE_CHECKING:
    from bot.config import Settings


@dataclass(frozen=True)
class FrontConfig:
    """What the front needs, as plain values: the work process reads and checks the
    settings, and asks Slack who the bot is, before the front serves."""

    signing_secret: str
    bot_token: str | None
    app_token: str | None
    slack_api_url: str
    port: int
    log_level: str
    access: AccessPolicy
    workspace: Identity
    unresponsive_after_s: float
    database_url: str  # for the jobs acked while the work process cannot take them
    secrets: tuple[str, ...]  # masked in every log line


def front_config(settings: Settings, workspace: Identity, port: int | None) -> FrontConfig:
    def plain(secret: object) -> str | None:
        return secret.get_secret_value() if secret is not None else None  # type: ignore[attr-defined]

    secrets = (settings.slack_bot_token, settings.slack_signing_secret,
               settings.slack_app_token, settings.database_url)
    return FrontConfig(
        signing_secret=settings.signing_secret, bot_token=plain(settings.slack_bot_token),
        app_token=plain(settings.slack_app_token), slack_api_url=settings.slack_api_url,
        port=port or settings.port, log_level=settings.bot_log_level, access=settings.access,
        workspace=workspace,
        unresponsive_after_s=settings.bot_work_unresponsive_after.total_seconds(),
        database_url=settings.database_url.get_secret_value(),
        secrets=tuple(value for s in secrets if (value := plain(s))))


class WorkHandle(Protocol):
    """Where the front's lazy halves go (``bot.work_process.WorkProcess``)."""

    def send(self, job: LazyJob) -> None: ...

    def render_metrics(self, accept: str | None) -> tuple[bytes, str]: ...

    def database_health(self) -> DatabaseHealth: ...

    def state(self) -> str: ...

    def answering(self) -> AbstractContextManager[object]: ...


@dataclass(frozen=True)
class Front:
    bolt_app: App
    web_app: Starlette


def build_front(config: FrontConfig, *, client: WebClient, work: WorkHandle,
                metrics: Metrics) -> Front:
    """``metrics`` are this process's own, served while the work process cannot answer."""
    bolt_app = create_front_app(signing_secret=config.signing_secret, access=config.access,
                                client=client, workspace=config.workspace,
                                hand_over=work.send)

    def own_metrics(accept: str | None) -> tuple[bytes, str]:
        return render_latest(metrics, accept)

    web_app = create_web_app(
        bolt_app, signing_secret=config.signing_secret,
        database_health=work.database_health,
        work_process_state=work.state, answering=work.answering,
        metrics_renderer=work.render_metrics, own_metrics=own_metrics)
    return Front(bolt_app, web_app)
