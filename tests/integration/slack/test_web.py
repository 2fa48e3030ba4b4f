"""The HTTP server: Slack requests must be signed and fresh; health and metrics answer."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from bot.store.sql import SqlUnitOfWorkFactory, unit_of_work_factory
from bot.telemetry import Metrics, render_latest
from bot.web import create_web_app

from .conftest import HUB, SECRET, Bot, signed


@pytest.fixture
def web(bot: Bot) -> TestClient:
    metrics = Metrics()
    uow = bot.service.uow
    assert isinstance(uow, SqlUnitOfWorkFactory)
    app = create_web_app(bot.app, signing_secret=SECRET, database_health=uow.health,
                         metrics_renderer=lambda accept: render_latest(metrics, accept))
    return TestClient(app)


def test_a_signed_command_is_answered(web: TestClient, bot: Bot) -> None:
    body = bot.command_body(f"status {HUB}")
    response = web.post("/slack/events", content=body, headers=signed(body))
    assert response.status_code == 200
    assert "West Europe" in str(bot.slack.responses[-1].body)


def test_a_forged_signature_is_refused(web: TestClient, bot: Bot) -> None:
    body = bot.command_body(f"failover {HUB}")
    response = web.post("/slack/events", content=body, headers=signed(body, secret="guess"))
    assert response.status_code == 401
    assert bot.slack.calls("views.open") == []


def test_a_replayed_old_request_is_refused(web: TestClient, bot: Bot) -> None:
    body = bot.command_body(f"failover {HUB}")
    stale = signed(body, timestamp=int(time.time()) - 6 * 60)
    assert web.post("/slack/events", content=body, headers=stale).status_code == 401
    assert bot.slack.calls("views.open") == []


def test_a_tampered_body_is_refused(web: TestClient, bot: Bot) -> None:
    body = bot.command_body(f"status {HUB}")
    headers = signed(body)
    tampered = body.replace("U0ALICE", "U0BOB")
    assert web.post("/slack/events", content=tampered, headers=headers).status_code == 401


def test_healthz_reports_the_database(web: TestClient) -> None:
    response = web.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "writable"}


def test_healthz_says_when_the_database_is_unreachable(bot: Bot) -> None:
    down = unit_of_work_factory("postgresql://nobody@127.0.0.1:9/none")
    client = TestClient(create_web_app(bot.app, signing_secret=SECRET,
                                       database_health=down.health))
    assert client.get("/healthz").json() == {"status": "degraded", "database": "unreachable"}


def test_metrics_are_prometheus_text(web: TestClient) -> None:
    response = web.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text
