"""A failover and its failback in the sandbox, sped up, in Debian's Chromium: the thread reads
in time order, status says what runs, and the cool-down is on the sandbox's clock.
Screenshots land in test-artifacts/sandbox/failback-*.png."""
# ruff: noqa: F811 (test_browser's ``page`` fixture is imported, and used as a parameter)

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.service import HubStatus
from failover_sandbox.run import DEMO_HUB, Sandbox

from .conftest import free_port
from .test_browser import TIMEOUT, be, page, say, shot  # noqa: F401 (the page fixture)

pytestmark = pytest.mark.browser

from playwright.sync_api import Locator, Page, expect  # noqa: E402

SPEED = 600.0  # the failover takes ~2 s, Azure's hour of cool-down 6 s


@pytest.fixture
def fast_sandbox() -> Iterator[Sandbox]:
    settings = Settings(bot_log_level="WARNING")  # Azure's own limits: no warning
    sandbox = Sandbox(settings, port=free_port(), bot_port=free_port(), speed=SPEED,
                      poll_interval=timedelta(seconds=0.2)).start()
    yield sandbox
    sandbox.stop()


def _request(page: Page, kind: str) -> None:
    be(page, "Alice (on-call)")
    say(page, f"/iothub {kind} {DEMO_HUB}")
    modal = page.get_by_role("dialog")
    expect(modal).to_contain_text(f"sandbox: {SPEED:g}× faster than Azure", timeout=TIMEOUT)
    modal.get_by_label("Reason or incident link").fill("INC-4711: West Europe is degraded")
    modal.get_by_label("Type the hub name to confirm").fill(f" {DEMO_HUB.upper()} ")
    modal.get_by_role("button", name=f"Request {kind}").click()
    expect(modal).to_contain_text("waiting for approval", timeout=TIMEOUT)
    modal.get_by_role("button", name="Close").last.click()
    expect(modal).to_be_hidden()


def _approve(page: Page) -> None:
    be(page, "Bob (incident lead)")
    page.locator("#messages").get_by_role("button", name="Approve").last.click()
    page.get_by_role("alertdialog").get_by_role("button", name="Approve").click()


def _thread(page: Page, index: int) -> Locator:
    page.locator("#messages .replies").nth(index).click()
    return page.get_by_role("complementary", name="Thread")


def _wait_until(moment: datetime) -> None:
    """The cool-down ends at a known moment on the sandbox's (real) clock."""
    left = (moment - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left + 0.2)


def test_a_failover_and_its_failback_read_in_time_order(fast_sandbox: Sandbox,
                                                        page: Page) -> None:
    page.goto(fast_sandbox.console_url)
    channel = page.locator("#messages")

    _request(page, "failover")
    shot(page, "failback-01-failover-requested")
    _approve(page)
    be(page, "Alice (on-call)")
    say(page, f"/iothub status {DEMO_HUB}")
    expect(channel).to_contain_text("Done: active in North Europe", timeout=60_000)
    thread = _thread(page, 0)
    expect(thread).to_contain_text("succeeded", timeout=TIMEOUT)
    read = thread.inner_text()
    assert read.count("succeeded.") == 1, read  # one completion, nothing rewritten to it
    assert read.index("Azure accepted the failover") < read.index("succeeded."), read
    shot(page, "failback-02-failover-thread")

    say(page, f"/iothub status {DEMO_HUB}")
    status = channel.locator(".message.ephemeral").last
    expect(status).to_contain_text("Failback possible", timeout=TIMEOUT)
    expect(status).to_contain_text(f"sandbox: {SPEED:g}× faster than Azure")
    shot(page, "failback-03-status-after-failover")

    assert fast_sandbox.runtime is not None
    hub = fast_sandbox.runtime.components.service.reading.status(DEMO_HUB)
    assert isinstance(hub, HubStatus) and hub.failback_allowed_at is not None
    # Azure's hour at 600×: seconds, not an hour, for a newcomer trying it out.
    assert hub.failback_allowed_at - datetime.now(UTC) < timedelta(seconds=7)
    _wait_until(hub.failback_allowed_at)

    _request(page, "failback")
    _approve(page)
    expect(channel).to_contain_text("Done: active in West Europe", timeout=60_000)
    thread = _thread(page, 1)
    expect(thread).to_contain_text("The failback of", timeout=TIMEOUT)
    read = thread.inner_text()
    assert read.index("Azure accepted the failback") < read.index("succeeded."), read
    expect(thread).not_to_contain_text("Failback possible")  # the hub is home
    shot(page, "failback-04-failback-thread")

    be(page, "Alice (on-call)")
    say(page, f"/iothub status {DEMO_HUB}")
    status = channel.locator(".message.ephemeral").last
    expect(status).to_contain_text("Next operation", timeout=TIMEOUT)
    expect(status).not_to_contain_text("Failback possible")
    shot(page, "failback-05-status-back-home")
