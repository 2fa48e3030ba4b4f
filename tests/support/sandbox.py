"""The whole sandbox in-process on free ports: fast fleet, short poll, 10-minute cool-down.

The browser tests and the console API tests share it through their conftests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from bot.config import Settings
from failover_sandbox.run import Sandbox
from tests.support import free_port

SPEED = 2000.0  # contoso-prod-weu fails over in about half a second
# BOT_FAILBACK_COOLDOWN is Azure time; the sandbox divides it by SPEED: 10 sandbox minutes.
COOLDOWN = timedelta(minutes=10) * SPEED


def start_sandbox(**kwargs: object) -> Sandbox:
    settings = Settings(bot_failback_cooldown=COOLDOWN, bot_log_level="WARNING")
    return Sandbox(settings, port=free_port(), bot_port=free_port(), speed=SPEED,
                   poll_interval=timedelta(seconds=0.2), **kwargs).start()  # type: ignore[arg-type]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    running = start_sandbox()
    yield running
    running.stop()


def eventually(sandbox: Sandbox, check: Callable[[], object], timeout: float = 10.0) -> object:
    """Wait on the workspace's change signal (no fixed sleeps) until ``check()`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        version = sandbox.workspace.version
        result = check()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for the sandbox")
        sandbox.workspace.wait_for_change(version, timeout=min(left, 0.5))
