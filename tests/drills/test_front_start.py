"""Drill: the real ``serve`` from its first moment. While the work process is first started,
/healthz says "starting" (not "restarting"), /readyz says not ready, and /metrics already
answers with the front's own figures; then all three say the bot is up."""

from __future__ import annotations

import time

import pytest
import requests

from .serve_harness import WAIT, Drill

pytestmark = pytest.mark.process_drill


def test_from_the_first_answer_health_says_starting_and_metrics_answer(drill: Drill) -> None:
    drill.launch_bot()
    assert drill.bot is not None
    seen: list[tuple[str, int, int]] = []  # (worker, /readyz code, /metrics code)
    alive: set[str] = set()  # what /healthz said of the work process
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        code, health = drill.health()
        if code == 0:  # not listening yet
            assert drill.bot.process.poll() is None, "the bot exited while starting"
            time.sleep(0.02)  # the poll step, not a wait for an outcome
            continue
        alive.add(health["work_process"])
        ready, readiness = drill.health("/readyz")
        metrics = requests.get(drill.bot.url + "/metrics", timeout=5)
        seen.append((readiness["work_process"], ready, metrics.status_code))
        assert "failover_bot_" in metrics.text
        if readiness["work_process"] == "running" and ready == 200:
            break
    else:
        raise AssertionError(f"the bot did not become ready: {seen[-5:]}")

    print(f"states seen while starting: {sorted(set(seen))}")
    assert alive | {worker for worker, _, _ in seen} <= {"starting", "running"}, seen
    assert all(code == 200 for _, _, code in seen), "/metrics must answer from the start"
    assert all(ready == 503 for worker, ready, _ in seen if worker == "starting"), seen
    assert seen[-1] == ("running", 200, 200)
