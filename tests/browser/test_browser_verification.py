"""After the move, in the console, in Debian's Chromium, with the sandbox's poll interval (2 s)
as ``failover-bot sandbox`` runs: the bot reads the hub's Azure Monitor minutes and says in
the request's thread whether its devices came back, and restarts the hub's declared
consumers. Screenshots land in test-artifacts/sandbox/: verify-dialog, verified-thread,
not-recovered-thread, verification-board and verification-audit (.png)."""
# ruff: noqa: F811 (test_browser's ``page`` fixture is imported, and used as a parameter)

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.service import HubStatus
from failover_sandbox.run import DEMO_HUB, Sandbox

from .conftest import eventually, free_port
from .test_browser import TIMEOUT, be, page, say, shot  # noqa: F401 (the page fixture)
from .test_browser_regional import DONE, ELIGIBLE, _element_shot, _request_region
from .test_browser_regional import _approve as _approve_batch

pytestmark = pytest.mark.browser

from playwright.sync_api import Locator, Page, expect  # noqa: E402

SPEED = 60.0  # the sandbox's default: contoso-prod-weu fails over in ~16 s
REGIONAL_SPEED = 120.0  # a dozen hubs, the biggest (1.2M devices) ~13 s: the file stays short
LOST_HUB = "wingtip-edge-weu"  # 40 % of its devices come back after a move
CONSUMERS = "then restart func-telemetry (Function app) and asa-alerts (Stream Analytics job)"
# ms. A verdict needs 2 whole minutes after the move, and Azure Monitor's 3 minutes of delay:
# "Verified" ~10 s after Succeeded at 60×, "Not recovered" after the 15-minute window ~18 s.
MOVED = 45_000
VERDICT = 30_000


def _sandbox(settings: Settings, speed: float) -> Sandbox:
    # The sandbox's own poll interval (2 s): at 0.2 s, two requests' "running for…" edits use
    # up Slack's 50 updates a minute and hold the completion back behind the verdict.
    return Sandbox(settings, port=free_port(), bot_port=free_port(), speed=speed).start()


@pytest.fixture
def default_sandbox() -> Iterator[Sandbox]:
    sandbox = _sandbox(Settings(bot_log_level="WARNING"), SPEED)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def regional_default_sandbox() -> Iterator[Sandbox]:
    sandbox = _sandbox(Settings(bot_log_level="WARNING",
                                bot_batch_max_starts_per_minute=600), REGIONAL_SPEED)
    yield sandbox
    sandbox.stop()


def _request(page: Page, hub: str, *, dialog_shot: str | None = None) -> Locator:
    """Alice asks for the hub's failover through the dialog; returns its approval message."""
    be(page, "Alice (on-call)")
    say(page, f"/iothub failover {hub}")
    modal = page.get_by_role("dialog")
    expect(modal).to_contain_text("North Europe", timeout=TIMEOUT)  # live state filled in
    modal.get_by_label("Reason or incident link").fill("INC-4711: West Europe is degraded")
    modal.get_by_label("Type the hub name to confirm").fill(hub)
    if dialog_shot:
        expect(modal).to_contain_text(CONSUMERS)
        _element_shot(page, modal, dialog_shot)
    modal.get_by_role("button", name="Request failover").click()
    expect(modal).to_contain_text("waiting for approval", timeout=TIMEOUT)
    modal.get_by_role("button", name="Close").last.click()
    expect(modal).to_be_hidden()
    asked = page.locator("#messages .message").filter(has_text="Needs a second person's approval")
    asked = asked.filter(has_text=hub).last
    expect(asked).to_be_visible(timeout=TIMEOUT)
    # Pinned by its ts: once approved, its words change.
    return page.locator(f'#messages .message[data-ts="{asked.get_attribute("data-ts")}"]')


def _approve(page: Page, asked: Locator) -> None:
    be(page, "Bob (incident lead)")
    asked.get_by_role("button", name="Approve").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Approve").click()
    expect(asked).to_contain_text("Approved by", timeout=TIMEOUT)


def _thread(page: Page, asked: Locator) -> Locator:
    asked.locator(".replies").click()
    return page.get_by_role("complementary", name="Thread")


def _in_order(text: str, *parts: str) -> None:
    at = [text.find(part) for part in parts]
    assert -1 not in at and at == sorted(at), (parts, text)


def test_the_thread_says_whether_the_devices_came_back(default_sandbox: Sandbox,
                                                       page: Page) -> None:
    page.goto(default_sandbox.console_url)
    demo = _request(page, DEMO_HUB, dialog_shot="verify-dialog")
    expect(demo).to_contain_text(CONSUMERS)  # what approving it approves
    lost = _request(page, LOST_HUB)  # the two run side by side: half the wait
    expect(lost).not_to_contain_text("After the move")  # it declares no consumers
    _approve(page, demo)
    _approve(page, lost)

    be(page, "Alice (on-call)")
    thread = _thread(page, demo)
    expect(thread).to_contain_text("succeeded", timeout=MOVED)
    expect(thread).to_contain_text("Verified:", timeout=VERDICT)
    restarted = thread.locator(".message").filter(has_text="Restarted")
    expect(restarted).to_have_count(2, timeout=TIMEOUT)
    expect(restarted.filter(has_text="func-telemetry (Function app)")).to_have_count(1)
    expect(restarted.filter(has_text="asa-alerts (Stream Analytics job)")).to_contain_text(
        "from its last output")
    verdict = thread.locator(".message").filter(has_text="Verified:")
    expect(verdict).to_contain_text("devices connected again")
    expect(verdict).to_contain_text("min after the failover")
    # The sparkline, a minute a character: the drop while Azure moved the hub, and back.
    expect(verdict.locator(".context")).to_contain_text("Connected devices, a minute a character")
    spark = verdict.locator(".context code").inner_text()
    assert "▁" in spark and spark.endswith(("▇", "█")), spark
    _in_order(thread.inner_text(), "Azure accepted", "succeeded.", "Restarted", "Verified:")
    shot(page, "verified-thread")

    thread = _thread(page, lost)
    expect(thread).to_contain_text("Not recovered after 15 min:", timeout=VERDICT)
    verdict = thread.locator(".message").filter(has_text="Not recovered")
    expect(verdict).to_contain_text("(wanted: 95 % of the devices and 90 % of the telemetry)")
    expect(verdict.locator(".context")).to_contain_text("Connected devices")
    expect(thread).not_to_contain_text("Restarted")
    _in_order(thread.inner_text(), "succeeded.", "Not recovered")
    shot(page, "not-recovered-thread")


def _verdicts(sandbox: Sandbox) -> dict[str, str] | None:
    """Every batch hub's verdict in words, as ``/iothub status`` has it; None before."""
    assert sandbox.runtime is not None
    reading = sandbox.runtime.components.service.reading
    said = {}
    for hub in ELIGIBLE:
        status = reading.status(hub)
        assert isinstance(status, HubStatus), status
        said[hub] = status.last_verdict or ""
    final = ("Verified:", "Not recovered", "Could not verify")
    return said if all(any(f in line for f in final) for line in said.values()) else None


def test_a_regional_batch_is_verified_hub_by_hub(regional_default_sandbox: Sandbox,
                                                  page: Page) -> None:
    sandbox = regional_default_sandbox
    page.goto(sandbox.console_url)
    board = _request_region(page)
    _approve_batch(page, board)
    expect(board).to_contain_text(f"{len(ELIGIBLE)} of {len(ELIGIBLE)} done", timeout=DONE)
    said = eventually(sandbox, lambda: _verdicts(sandbox), timeout=VERDICT / 1000)
    assert isinstance(said, dict)
    assert "Not recovered after 15 min" in said[LOST_HUB], said
    assert all("Verified:" in line for hub, line in said.items() if hub != LOST_HUB), said

    # The board: every hub moved, edited in place, each verdict on its line and in the totals.
    for hub in ELIGIBLE:
        expect(board).to_contain_text(f"{hub} → North Europe · done")
    expect(board).to_contain_text("Finished.", timeout=VERDICT)
    expect(board).to_contain_text(
        f"{len(ELIGIBLE)} moved · {len(ELIGIBLE) - 1} verified · 1 devices not back")
    expect(board).to_contain_text(re.compile(r"devices not back (39|40) %"))  # wingtip's line
    _element_shot(page, board, "verification-board")

    # Where a batch hub's verdict is told today: its status and the audit log.
    be(page, "Alice (on-call)")
    mine = page.locator("#messages .message.ephemeral").last
    say(page, f"/iothub status {LOST_HUB}")
    expect(mine).to_contain_text("Last verification", timeout=TIMEOUT)
    expect(mine).to_contain_text("Not recovered after 15 min:")
    expect(mine).not_to_contain_text(":stethoscope:")  # the console knows the emoji
    say(page, f"/iothub status {DEMO_HUB}")
    expect(mine).to_contain_text(f"{DEMO_HUB} is active in North Europe", timeout=TIMEOUT)
    expect(mine).to_contain_text("Last verification")
    expect(mine).to_contain_text("Verified:")
    say(page, f"/iothub audit {LOST_HUB}")
    expect(mine).to_contain_text("Audit log", timeout=TIMEOUT)
    expect(mine).to_contain_text(f"not_recovered failover · failover-bot · {LOST_HUB}")
    shot(page, "verification-audit")
