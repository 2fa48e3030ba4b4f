"""Drill: a frozen work process is not ready (issue #24 item 4).

``kill -STOP`` on the real ``serve``'s work process: its pid lives on, but its job loop no
longer beats, so /readyz says 503 ``unresponsive`` within ``BOT_WORK_UNRESPONSIVE_AFTER`` (the
load balancer stops sending, instead of acked commands waiting unseen); ``kill -CONT`` and it
is ready again, and the command acked meanwhile is answered.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import HUB
from .serve_harness import Drill

pytestmark = pytest.mark.process_drill

UNRESPONSIVE_AFTER_S = 10.0  # BOT_WORK_UNRESPONSIVE_AFTER's default: the drill keeps it
BEAT_S = 1.0  # the job loop beats at least this often (bot.work_child.BEAT_S)
MARGIN_S = 5.0  # a loaded 2-core machine: a probe and its answer, not a pause
BURST = 40


def _readiness(drill: Drill) -> tuple[int, str | None]:
    code, body = drill.health("/readyz")
    return code, body.get("work_process")


def _readiness_during_a_burst(drill: Drill) -> list[tuple[int, str | None]]:
    """/readyz, asked again and again while ``BURST`` status commands are acked and answered."""
    seen: list[tuple[int, str | None]] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            seen.append(_readiness(drill))
            done.wait(0.2)  # the probe's period, as a load balancer's

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            acks = list(pool.map(lambda _: drill.command(f"/iothub status {HUB}"),
                                 range(BURST)))
        assert all(code == 200 for code, _ in acks), acks
        drill.wait_for("every command of the burst to be answered",
                       lambda: all(drill.answers(token) for _, token in acks))
    finally:
        done.set()
        prober.join()
    return seen


def test_a_frozen_work_process_is_not_ready_and_is_again_once_it_runs(drill: Drill) -> None:
    drill.start_bot()
    assert _readiness(drill) == (200, "running")
    # Busy is not frozen: the work process (at nice 19) keeps beating through a burst.
    during_burst = _readiness_during_a_burst(drill)
    assert during_burst and set(during_burst) == {(200, "running")}, during_burst

    pid = drill.work_process_pid()
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        ack, token = drill.command(f"/iothub status {HUB}")
        assert ack == 200  # the front still acks, and stores the job
        drill.wait_for("/readyz to say the work process is unresponsive",
                       lambda: _readiness(drill) == (503, "unresponsive"),
                       timeout=UNRESPONSIVE_AFTER_S + MARGIN_S)
        # Judged by its silence, not by a pause of a probe: not before the limit.
        assert time.monotonic() - stopped > UNRESPONSIVE_AFTER_S - BEAT_S - 0.5
        code, body = drill.health("/readyz")
        assert code == 503 and body["problems"] == ["the work process is unresponsive"], body
        code, body = drill.health()
        assert (code, body["status"], body["work_process"]) == (200, "degraded", "unresponsive")
        assert not drill.answers(token)  # acked, and waiting: what /readyz now says
        assert drill.work_process_pid() == pid  # neither killed nor restarted
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)

    drill.wait_for("/readyz to say ready", lambda: _readiness(drill) == (200, "running"),
                   timeout=MARGIN_S)
    answered = drill.wait_for("the command acked while frozen to be answered",
                              lambda: drill.answers(token))
    assert f"{HUB}: active in" in str(answered[0].get("text")), answered

    said = [r for r in drill.log_records() if r["logger"] == "bot.work_process"]
    frozen = [r for r in said if "has not taken jobs" in r["message"]]
    again = [r for r in said if "takes jobs again" in r["message"]]
    assert len(frozen) == 1 and frozen[0]["level"] == "ERROR", said  # once, not per probe
    assert len(again) == 1, said
    assert not [r for r in said if "exited" in r["message"]], said  # no restart
