"""The HTTP front under bad input (oversized, malformed, unsigned) and its health endpoints:
/healthz (alive), /readyz (ready to take work), /metrics from the first moment."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from bot.slack.guard import VERIFICATION_LOGGER
from bot.store.health import READ_ONLY, WRITABLE, DatabaseHealth
from bot.telemetry import Metrics, render_latest
from bot.web import MAX_BODY, create_web_app

from .conftest import HUB, SECRET, Bot, signed


@dataclass
class Front:
    client: TestClient
    database: list[DatabaseHealth]
    work_process: list[str]


@pytest.fixture
def front(bot: Bot) -> Front:
    database, work_process = [DatabaseHealth(WRITABLE)], ["running"]
    metrics = Metrics()
    app = create_web_app(bot.app, signing_secret=SECRET,
                         database_health=lambda: database[-1],
                         work_process_state=lambda: work_process[-1],
                         own_metrics=lambda accept: render_latest(metrics, accept))
    return Front(TestClient(app), database, work_process)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"a" * min(size, total - sent)
        sent += size


def test_a_declared_oversized_body_is_refused_before_it_is_read(front: Front,
                                                                 bot: Bot) -> None:
    read: list[int] = []

    def body() -> Iterator[bytes]:  # counts what the server asks for
        for chunk in _chunks(5 * MAX_BODY):
            read.append(len(chunk))
            yield chunk

    response = front.client.post("/slack/events", content=body(), headers={
        "content-length": str(5 * MAX_BODY), "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert sum(read) < 2 * MAX_BODY
    assert bot.slack.calls("views.open") == []


def test_a_chunked_oversized_body_is_refused_once_it_passes_the_limit(front: Front) -> None:
    response = front.client.post("/slack/events", content=_chunks(3 * MAX_BODY),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_a_body_at_the_limit_still_reaches_the_signature_check(front: Front) -> None:
    body = urlencode({"text": "x" * (MAX_BODY - 10)})[:MAX_BODY]
    response = front.client.post("/slack/events", content=body, headers=signed(body))
    assert response.status_code != 413


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", "42", '"text"'])
def test_a_malformed_payload_is_a_400_not_a_traceback(front: Front, payload: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    body = urlencode({"payload": payload})
    with caplog.at_level(logging.INFO):
        response = front.client.post("/slack/events", content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed request"}
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("timestamp", ["soon", "-1", "1e9", "12.5", ""])
def test_a_malformed_timestamp_is_a_401(front: Front, bot: Bot, timestamp: str,
                                        caplog: pytest.LogCaptureFixture) -> None:
    body = bot.command_body(f"failover {HUB}")
    headers = {**signed(body), "x-slack-request-timestamp": timestamp}
    with caplog.at_level(logging.INFO):
        response = front.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert bot.slack.calls("views.open") == []


def test_an_unsigned_body_is_never_logged(front: Front, bot: Bot,
                                          caplog: pytest.LogCaptureFixture) -> None:
    body = bot.command_body(f"status {HUB}") + "&filler=" + "Z" * 900_000
    # Bolt's logger takes the root's level when the app is built: INFO in production.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, VERIFICATION_LOGGER):
        response = front.client.post("/slack/events", content=body,
                                     headers=signed(body, secret="a guess"))
    assert response.status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "ZZZZ" not in logged
    assert "response_url" not in logged and bot.server.response_url("") not in logged
    assert "signature" in logged.lower()  # the refusal itself is still logged


def test_ready_when_the_database_takes_writes_and_the_work_process_runs(front: Front) -> None:
    ready = front.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "writable", "work_process": "running"}
    assert front.client.get("/healthz").json() == {
        "status": "ok", "database": "writable", "work_process": "running"}


def test_not_ready_while_the_database_refuses_writes(front: Front) -> None:
    front.database.append(DatabaseHealth(READ_ONLY, "attempt to write a readonly database"))
    ready = front.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "database": "read-only",
                            "work_process": "running", "problems": ["the database is read-only"]}
    alive = front.client.get("/healthz")
    assert alive.status_code == 200 and alive.json()["status"] == "degraded"
    assert "readonly" not in alive.text  # details go to the log, not to anonymous callers


def test_the_first_start_of_the_work_process_is_starting_not_restarting(front: Front) -> None:
    front.work_process.append("starting")
    assert front.client.get("/healthz").json()["work_process"] == "starting"
    ready = front.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["the work process is starting"]


def test_metrics_answer_from_the_first_moment(bot: Bot) -> None:
    def not_up_yet(accept: str | None) -> tuple[bytes, str]:
        raise RuntimeError("the work process is not running")

    own = Metrics()
    app = create_web_app(bot.app, signing_secret=SECRET,
                         database_health=lambda: DatabaseHealth(WRITABLE),
                         metrics_renderer=not_up_yet,
                         own_metrics=lambda accept: render_latest(own, accept))
    response = TestClient(app).get("/metrics")
    assert response.status_code == 200
    assert "failover_bot_" in response.text


def test_a_hung_database_check_does_not_hold_up_liveness(bot: Bot) -> None:
    import threading

    release = threading.Event()

    def hung() -> DatabaseHealth:
        release.wait(10)
        return DatabaseHealth(WRITABLE)

    client = TestClient(create_web_app(bot.app, signing_secret=SECRET, database_health=hung))
    try:
        with client:  # one event loop for both requests, as under uvicorn
            alive = client.get("/healthz")
            assert alive.status_code == 200
            assert alive.json() == {"status": "degraded", "database": "unresponsive"}
            assert client.get("/readyz").status_code == 503
    finally:
        release.set()
    assert json.loads(alive.text)["database"] == "unresponsive"
