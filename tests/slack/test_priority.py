"""Acks first: work after an ack waits while other Slack requests are being answered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bot.slack.priority import AckGate, AfterAckExecutor


def test_work_starts_only_once_pending_acks_are_answered() -> None:
    gate = AckGate(max_wait=30)
    order: list[str] = []
    started = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        executor = AfterAckExecutor(pool, gate)
        with gate.answering():
            done = executor.submit(lambda: (started.set(), order.append("work")))
            assert not started.wait(0.2)  # held back while a request is being answered
            order.append("ack")
        done.result(timeout=10)
    assert order == ["ack", "work"]


def test_work_is_held_back_no_longer_than_its_bound() -> None:
    gate = AckGate(max_wait=30)
    with ThreadPoolExecutor(1) as pool, gate.answering():
        urgent = AfterAckExecutor(pool, gate, max_wait=0.05)
        assert urgent.submit(lambda: "opened").result(timeout=10) == "opened"


def test_work_runs_at_once_when_nothing_is_pending() -> None:
    gate = AckGate(max_wait=30)
    with ThreadPoolExecutor(1) as pool:
        assert AfterAckExecutor(pool, gate).submit(lambda: 42).result(timeout=1) == 42
