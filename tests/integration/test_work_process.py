"""``serve``'s split: the front acks, its work process does the rest (``bot.work_process``).

Real processes: the front's runtime here, the work process spawned as in production (with the
simulated fleet as its gateway), the fake Slack Web API in this process.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from slack_bolt import BoltRequest, BoltResponse
from starlette.testclient import TestClient

from bot import work_process
from bot.bootstrap import slack_client
from bot.config import load_settings
from bot.in_flight import InFlight, SharedPage, watch
from bot.roles.front import build_front
from bot.slack.lazy import LazyJob
from bot.store.jobs import JobStore
from bot.store.migrate import upgrade
from bot.telemetry import Metrics
from bot.work_child import run_after_acks
from bot.work_process import WorkProcess
from bot.work_start import StartFailed, WorkSpec
from failover_sandbox.fleet import simulated_gateway
from failover_sandbox.slack_api import FakeSlackServer
from tests import support

SECRET = "work-process-test-secret"  # made up
CHANNEL, USER = "C0INCIDENT", "U0ALICE"
HUB = "contoso-prod-weu"  # in the simulated default fleet
WAIT_S = 60.0  # an upper bound for a spawn on a loaded machine, not a pause


signed = partial(support.signed, secret=SECRET)
wait_for = partial(support.wait_until, timeout=WAIT_S)


@dataclass
class Front:
    client: TestClient
    work: WorkProcess
    slack: FakeSlackServer
    database_url: str

    def command(self, text: str, response_id: str) -> int:
        body = support.slash_command(
            text=text, team_id=self.slack.slack.team_id, channel_id=CHANNEL, user_id=USER,
            response_url=self.slack.response_url(response_id),
            trigger_id=self.slack.slack.new_trigger())
        return self.client.post("/slack/events", content=body, headers=signed(body)
                                ).status_code

    def answered(self, response_id: str) -> str | None:
        for post in self.slack.slack.responses:
            if post.token == response_id:
                return str(post.body.get("text"))
        return None

    def health(self) -> dict[str, str]:
        return dict(self.client.get("/healthz").json())


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    with FakeSlackServer() as server:
        server.slack.add_user(USER, "alice")
        server.slack.add_channel(CHANNEL, "incident")
        database_url = f"sqlite:///{tmp_path / 'bot.db'}"
        upgrade(database_url)
        settings = load_settings(
            slack_signing_secret=SECRET, slack_bot_token=server.slack.bot_token,
            slack_api_url=server.api_url, database_url=database_url,
            bot_allowed_channels=CHANNEL, bot_log_level="WARNING")
        metrics = Metrics()
        client = slack_client(settings, metrics)
        work = WorkProcess(WorkSpec(settings, simulated_gateway, run_poller=False))
        config = work.start()
        try:
            runtime = build_front(config, client=client, work=work, metrics=metrics)
            with TestClient(runtime.web_app) as client:
                front = Front(client, work, server, database_url)
                wait_for("the work process", work.running)
                yield front
        finally:
            work.stop(timeout=10)


def test_the_front_acks_and_the_work_process_answers(front: Front) -> None:
    assert front.command(f"status {HUB}", "r1") == 200
    answer = wait_for("the status answer", lambda: front.answered("r1"))
    assert HUB in answer and "active in" in answer
    assert front.health() == {"status": "ok", "database": "writable", "work_process": "running"}


def test_the_home_tab_is_published_by_the_work_process(front: Front) -> None:
    body = json.dumps({
        "token": "unused", "team_id": front.slack.slack.team_id, "api_app_id": "A0BOT",
        "type": "event_callback", "event_id": "Ev0HOME", "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": USER, "channel": "D0HOME", "tab": "home",
                  "event_ts": f"{time.time():.6f}"}})
    response = front.client.post("/slack/events", content=body,
                                 headers=signed(body, content_type="application/json"))
    assert response.status_code == 200
    view = wait_for("the Home tab", lambda: front.slack.slack.home_views.get(USER))
    assert view["type"] == "home"
    assert "Fleet by active region" in json.dumps(view["blocks"])


def test_metrics_on_the_front_are_the_work_processs(front: Front) -> None:
    assert front.command(f"status {HUB}", "r1") == 200
    wait_for("the status answer", lambda: front.answered("r1"))
    metrics = front.client.get("/metrics")
    assert metrics.status_code == 200
    # The front made no Azure call: these were counted in the work process.
    reads = [line for line in metrics.text.splitlines()
             if line.startswith("failover_bot_azure_call_seconds_count")
             and 'method="get_state"' in line]
    assert reads and float(reads[0].rsplit(" ", 1)[1]) >= 1


def test_a_killed_work_process_is_restarted_and_work_sent_meanwhile_is_done(
        front: Front) -> None:
    process = front.work._process
    assert process is not None and process.pid is not None
    assert front.work.state() == "running"
    os.kill(process.pid, signal.SIGKILL)
    wait_for("the death to be seen", lambda: front.health()["work_process"] == "restarting")
    assert front.health()["status"] == "degraded"
    assert front.work.state() == "restarting"
    assert front.command(f"status {HUB}", "while-down") == 200  # acked even now

    wait_for("the restart", lambda: front.health()["work_process"] == "running")
    assert front.work.state() == "running"
    assert front.work.restarts == 1
    assert HUB in wait_for("the answer sent while it was down",
                           lambda: front.answered("while-down"))


def test_a_stopped_work_process_is_unresponsive_and_metrics_do_not_wait_for_it(
        front: Front) -> None:
    front.work._unresponsive_after = 2.0  # BOT_WORK_UNRESPONSIVE_AFTER, short for the test
    process = front.work._process
    assert process is not None and process.pid is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        wait_for("the silence to be seen", lambda: front.health()["work_process"] == "unresponsive")
        asked = time.monotonic()
        metrics = front.client.get("/metrics")  # the front's own, at once
        assert metrics.status_code == 200
        assert time.monotonic() - asked < work_process.CONTROL_TIMEOUT_S
        assert front.client.get("/readyz").status_code == 503
    finally:
        os.kill(process.pid, signal.SIGCONT)
    wait_for("the beat to come back", lambda: front.health()["work_process"] == "running")
    assert front.work.restarts == 0


def test_the_work_process_exits_when_the_front_is_gone(front: Front) -> None:
    process = front.work._process
    assert process is not None
    front.work._channels.control.close()  # as a kill -9 of the front closes it
    wait_for("its exit", front.work._exited.is_set)  # the supervisor is its one waiter
    assert process.returncode == 1


def test_a_supervisor_that_cannot_restart_the_process_retries_then_says_failed(
        front: Front, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work_process, "FIRST_BACKOFF_S", 0.01)
    monkeypatch.setattr(work_process, "MAX_BACKOFF_S", 0.05)
    attempts: list[float] = []

    def cannot_spawn(previous_owner: str | None) -> None:
        attempts.append(time.monotonic())
        raise OSError("no more processes")

    monkeypatch.setattr(front.work, "_spawn", cannot_spawn)
    process = front.work._process
    assert process is not None and process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    wait_for("the supervisor to give up", lambda: front.work.state() == "failed")
    assert len(attempts) == work_process.SUPERVISOR_ATTEMPTS
    assert front.command(f"status {HUB}", "after") == 200  # still acked, and stored
    assert front.health()["work_process"] == "failed"
    jobs = JobStore(front.database_url)
    try:
        stored = wait_for("the job to be stored", jobs.pending)  # for the next start
        assert len(stored) == 1 and stored[0].request_id
    finally:
        jobs.close()


def test_a_work_process_that_cannot_start_says_why_in_one_line(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(database_url)
    settings = load_settings(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-made-up",  # made up
        slack_api_url="http://127.0.0.1:9/api/",  # nobody listens: auth.test fails
        database_url=database_url, bot_log_level="INFO")
    work = WorkProcess(WorkSpec(settings, simulated_gateway, run_poller=False))
    with pytest.raises(StartFailed) as failed:
        work.start()
    assert failed.value.status == 1  # a dependency, not the configuration
    assert "127.0.0.1:9" in failed.value.line and "\n" not in failed.value.line
    assert work._exited.is_set() or (work._process is not None
                                     and work._process.returncode is not None)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines  # no traceback


def test_work_waits_for_a_quiet_spell_after_the_last_answer() -> None:
    in_flight = InFlight(SharedPage())
    with in_flight.answering():
        quiet = watch(in_flight)
        assert not quiet.wait(InFlight.QUIET_S * 2)  # never while an answer is going on
    answered = time.monotonic()
    assert quiet.wait(WAIT_S)
    assert time.monotonic() >= answered + InFlight.QUIET_S * 0.9


class RecordingApp:
    """Stands in for the work process's Bolt app: records which lazy halves were run."""

    def __init__(self) -> None:
        self.ran: list[str | None] = []

    def dispatch(self, request: BoltRequest) -> BoltResponse:
        self.ran.append(request.lazy_function_name)
        return BoltResponse(status=200)


def test_work_is_held_back_for_a_bounded_time_only() -> None:
    in_flight = InFlight(SharedPage())
    app = RecordingApp()
    with in_flight.answering():  # an answer that never ends
        quiet = watch(in_flight)
        job = LazyJob("open_dialog", body="command=%2Fiothub")
        runner = threading.Thread(target=run_after_acks, args=(app, job, quiet))
        runner.start()
        runner.join(WAIT_S)
        assert app.ran == ["open_dialog"]
