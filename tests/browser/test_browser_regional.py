"""A regional outage in the console, in Debian's Chromium: Alice asks to fail over every hub
active in West Europe with one dialog, Bob approves the batch once, and its one board message,
edited in place, reaches every hub done. Screenshots land in
test-artifacts/sandbox/regional-*.png (the README's are copies of them, in docs/img/)."""
# ruff: noqa: F811 (test_browser's ``page`` fixture is imported, and used as a parameter)

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.config import Settings
from bot.domain.regions import same_region
from failover_sandbox.fleet._fleet import DEFAULT_FLEET, PORTAL_FAILOVER, SUSPENDED_HUB
from failover_sandbox.run import Sandbox

from .conftest import free_port
from .test_browser import ARTIFACTS, TIMEOUT, be, page, say, shot  # noqa: F401 (the page fixture)

pytestmark = pytest.mark.browser

from playwright.sync_api import Locator, Page, expect  # noqa: E402

SPEED = 60.0  # the sandbox's default: the biggest West Europe hub (1.2M devices) takes ~25 s
FAST = 600.0  # ~3 s
REGION = "West Europe"
# The fleet's hubs at home in West Europe, all eligible but the Suspended one; the hub failed
# over into West Europe in the portal is listed too, not eligible (that would be a failback).
HOME = [h for h in DEFAULT_FLEET if same_region(h.home, REGION)]
ELIGIBLE = [h.name for h in HOME if h.name != SUSPENDED_HUB]
NOT_ELIGIBLE = [SUSPENDED_HUB, PORTAL_FAILOVER[0]]
# Who starts first: the failover-priority tag, then the most devices.
ELIGIBLE_IN_ORDER = [h.name for h in sorted(
    (h for h in HOME if h.name in ELIGIBLE),
    key=lambda h: (h.priority is None, h.priority or 0, -h.devices))]
DONE = 90_000  # ms: a dozen hubs, the biggest ~25 s, a board edited every 5 s at most


def _sandbox(starts_per_minute: int, speed: float) -> Sandbox:
    settings = Settings(bot_log_level="WARNING",
                        bot_batch_max_starts_per_minute=starts_per_minute)
    return Sandbox(settings, port=free_port(), bot_port=free_port(), speed=speed,
                   poll_interval=timedelta(seconds=0.2)).start()


@pytest.fixture
def regional_sandbox() -> Iterator[Sandbox]:
    sandbox = _sandbox(600, SPEED)  # a start every 0.1 s
    yield sandbox
    sandbox.stop()


@pytest.fixture
def paced_sandbox() -> Iterator[Sandbox]:
    sandbox = _sandbox(20, FAST)  # a start every 3 s: time to stop the rest
    yield sandbox
    sandbox.stop()


def _element_shot(page: Page, element: Locator, name: str) -> None:
    """Just ``element``, whole: a dialog in a window tall enough for it, scrolled to its top."""
    size = page.viewport_size
    page.set_viewport_size({"width": 1400, "height": 1600})
    element.locator(".modal-body").evaluate_all("all => all.forEach(e => e.scrollTop = 0)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    element.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled")
    if size:
        page.set_viewport_size(size)


def _request_region(page: Page) -> Locator:
    """Alice asks for every eligible hub of the region; returns the batch's message."""
    be(page, "Alice (on-call)")
    say(page, f"/iothub failover --region {REGION}")
    modal = page.get_by_role("dialog")
    expect(modal.get_by_role("group", name="Hubs to move").locator(".chip")).to_have_count(
        len(ELIGIBLE), timeout=TIMEOUT)
    modal.get_by_label("Reason or incident link").fill("INC-5120: West Europe is down")
    modal.get_by_label("Type the region name to confirm").fill("westeurope")
    modal.get_by_role("button", name="Request failover").click()
    expect(modal).to_contain_text("is waiting for approval", timeout=TIMEOUT)
    modal.get_by_role("button", name="Close").last.click()
    expect(modal).to_be_hidden()
    return _board(page)


def _board(page: Page) -> Locator:
    """The batch's one message (pinned by its ts: the closing reply, broadcast to the
    channel, says "to their paired regions" too)."""
    asked = page.locator("#messages .message:not(:has(.broadcast))").filter(
        has_text="to their paired regions").last
    expect(asked).to_contain_text("Needs a second person's approval", timeout=TIMEOUT)
    return page.locator(f'#messages .message[data-ts="{asked.get_attribute("data-ts")}"]')


def _approve(page: Page, board: Locator) -> None:
    be(page, "Bob (incident lead)")
    board.get_by_role("button", name="Approve").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Approve").click()


def test_a_region_fails_over_with_one_dialog_one_approval_and_one_board(
        regional_sandbox: Sandbox, page: Page) -> None:
    assert len(ELIGIBLE) >= 12
    page.goto(regional_sandbox.console_url)
    channel = page.locator("#messages")

    be(page, "Alice (on-call)")
    say(page, f"/iothub failover --region {REGION}")
    modal = page.get_by_role("dialog")
    expect(modal).to_contain_text("Regional failover", timeout=TIMEOUT)
    expect(modal).to_contain_text(f"{len(ELIGIBLE)} eligible, {len(NOT_ELIGIBLE)} not",
                                  timeout=TIMEOUT)
    for hub in NOT_ELIGIBLE:
        expect(modal).to_contain_text(hub)
    expect(modal).to_contain_text("Suspended")
    chosen = modal.get_by_role("group", name="Hubs to move")
    # Every eligible hub is preselected, the failover-priority ones first.
    expect(chosen.locator(".chip-text")).to_have_count(len(ELIGIBLE))
    expect(chosen.locator(".chip-text").first).to_contain_text("fabrikam-telemetry-weu")
    expect(chosen.locator(".chip-text").nth(1)).to_contain_text("woodgrove-meters-weu")
    for hub in NOT_ELIGIBLE:
        expect(chosen).not_to_contain_text(hub)

    modal.get_by_label("Reason or incident link").fill("INC-5120: West Europe is down")
    modal.get_by_label("Type the region name to confirm").fill("west europe")
    shot(page, "regional-01-dialog")
    _element_shot(page, modal, "regional-dialog")  # the README's docs/img/regional-dialog.png
    modal.get_by_role("button", name="Request failover").click()
    expect(modal).to_contain_text("is waiting for approval", timeout=TIMEOUT)
    expect(modal).to_contain_text(f"{len(ELIGIBLE)} hubs")
    modal.get_by_role("button", name="Close").last.click()
    expect(modal).to_be_hidden()

    board = _board(page)
    be(page, "Bob (incident lead)")
    board.get_by_role("button", name="Approve").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Approve this batch?")
    confirm.get_by_role("button", name="Approve").click()

    totals = f"{len(ELIGIBLE)} of {len(ELIGIBLE)} done"
    expect(board).to_contain_text(totals, timeout=DONE)
    expect(board).to_contain_text("Approved by")
    expect(board).to_contain_text("/iothub audit --batch fb-")
    for hub in ELIGIBLE:
        expect(board).to_contain_text(hub)
    expect(board.locator(".edited")).to_be_visible()  # one message, edited in place
    expect(board.get_by_role("button", name="Stop the rest")).to_have_count(0)
    boards = channel.locator(".message:not(:has(.broadcast))").filter(
        has_text="to their paired regions")
    expect(boards).to_have_count(1)
    # Each moved hub is verified from Azure Monitor's minutes, its verdict on the board; the
    # closing reply waits for the last one (wingtip-edge-weu's devices come back to 40 %).
    closing = channel.locator(".message:has(.broadcast)").filter(has_text="finished")
    expect(closing).to_contain_text(totals, timeout=DONE)
    verdicts = (f"{len(ELIGIBLE)} moved · {len(ELIGIBLE) - 1} verified · "
                "1 devices not back")
    expect(closing).to_contain_text(verdicts)
    expect(board).to_contain_text(verdicts)
    shot(page, "regional-02-board-done")
    _element_shot(page, board, "regional-board")  # the README's docs/img/regional-board.png

    # The batch's record, as the board says.
    found = re.search(r"/iothub audit --batch (fb-[0-9a-f]+)", board.inner_text())
    assert found, board.inner_text()
    be(page, "Alice (on-call)")
    say(page, found.group(0))
    record = channel.locator(".message.ephemeral").last
    expect(record).to_contain_text("Audit log", timeout=TIMEOUT)
    expect(record).to_contain_text(f"succeeded failover · failover-bot · {ELIGIBLE_IN_ORDER[0]}")
    expect(record).to_contain_text("--page 2")  # newest first: the requests and approvals
    shot(page, "regional-04-audit")

    # The app's Home tab: the fleet by region, the hubs away from home, the batch.
    page.get_by_role("button", name="failover-bot Home").click()
    home = page.get_by_role("main", name="Home tab")
    expect(home).to_contain_text("IoT Hub failover", timeout=TIMEOUT)
    expect(home).to_contain_text("Away from home")
    expect(home).to_contain_text(found.group(1))
    shot(page, "regional-05-home-tab")
    home.get_by_role("link", name="the board").click()  # its permalink: back to the channel
    expect(home).to_be_hidden()
    expect(board).to_be_in_viewport()
    page.get_by_role("button", name="failover-bot Home").click()
    expect(home).to_be_visible()
    page.get_by_role("button", name="# incident").click()
    expect(home).to_be_hidden()

    # After the outage: the same hubs, back home, with one more dialog.
    say(page, f'/iothub failback --region "{REGION}"')
    expect(modal).to_contain_text("Regional failback", timeout=TIMEOUT)
    expect(modal).to_contain_text(f"{len(ELIGIBLE)} found: {len(ELIGIBLE)} eligible, 0 not",
                                  timeout=TIMEOUT)
    expect(modal.get_by_role("group", name="Hubs to move").locator(".chip")).to_have_count(
        len(ELIGIBLE))
    shot(page, "regional-06-failback-dialog")
    modal.get_by_role("button", name="Cancel").click()
    expect(modal).to_be_hidden()


def test_a_failed_hub_is_retried_from_its_thread_and_stop_the_rest_cancels_the_waiting(
        paced_sandbox: Sandbox, page: Page) -> None:
    page.goto(paced_sandbox.console_url)
    first = ELIGIBLE_IN_ORDER[0]
    be(page, "Alice (on-call)")
    say(page, f"/sandbox fail {first}")  # its failover runs its course, then fails
    expect(page.locator("#messages .message.ephemeral").last).to_contain_text(
        f"next failover or failback of {first}", timeout=TIMEOUT)
    board = _request_region(page)
    _approve(page, board)

    expect(board).to_contain_text("1 failed", timeout=DONE)
    expect(board).to_contain_text("waiting")
    board.get_by_role("button", name="Stop the rest").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Stop the rest?")
    confirm.get_by_role("button", name="Stop the rest").click()
    expect(board).to_contain_text("cancelled", timeout=DONE)
    expect(board).to_contain_text("Stopped by")
    expect(board.get_by_role("button", name="Stop the rest")).to_have_count(0)

    board.locator(".replies").click()
    thread = page.get_by_role("complementary", name="Thread")
    failure = thread.locator(".message").filter(has_text=f"The failover of {first}")
    expect(failure).to_contain_text("InternalServerError", timeout=TIMEOUT)
    shot(page, "regional-retry-01-failure-in-thread")
    failure.get_by_role("button", name="Retry failed").click()
    confirm.get_by_role("button", name="Retry").click()

    expect(board).to_contain_text(re.compile(rf"\d+ of {len(ELIGIBLE)} done · \d+ cancelled"),
                                  timeout=DONE)
    expect(board).not_to_contain_text("failed:")
    expect(board).to_contain_text(f"{first} → North Europe · done")
    shot(page, "regional-retry-02-stopped-and-retried")


@pytest.fixture
def crowded_sandbox() -> Iterator[Sandbox]:
    sandbox = _sandbox(600, FAST)
    for i in range(100):  # past Slack's 100 options: "all eligible" and a list to leave out
        sandbox.gateway.add_hub(f"weu-plant-{i:03d}", REGION, 1_000 + i)
    yield sandbox
    sandbox.stop()


def test_past_100_eligible_hubs_the_dialog_takes_all_but_those_left_out(
        crowded_sandbox: Sandbox, page: Page) -> None:
    eligible = len(ELIGIBLE) + 100
    page.goto(crowded_sandbox.console_url)
    be(page, "Alice (on-call)")
    say(page, f"/iothub failover --region {REGION}")
    modal = page.get_by_role("dialog")
    everything = modal.get_by_role("checkbox", name=f"All {eligible} eligible hubs")
    expect(everything).to_be_checked(timeout=TIMEOUT)
    modal.get_by_label("Reason or incident link").fill("INC-5121: West Europe is down")
    modal.get_by_label("Type the region name to confirm").fill("West Europe")

    everything.uncheck()  # a required input left empty: Slack's client does not submit
    modal.get_by_role("button", name="Request failover").click()
    hubs = modal.locator("[data-input-block=hubs]")
    expect(hubs.get_by_role("alert")).to_have_text("Please complete this required field.")
    expect(modal.get_by_label("Reason or incident link")).to_have_value(
        "INC-5121: West Europe is down")  # what was typed is kept

    everything.check()
    expect(hubs.get_by_role("alert")).to_have_count(0)
    modal.get_by_label("Leave out (optional)").fill("weu-plant-000, weu-plant-001\nweu-plant-002")
    shot(page, "regional-crowded-01-dialog")
    modal.get_by_role("button", name="Request failover").click()
    expect(modal).to_contain_text(f"of {eligible - 3} hubs is waiting for approval",
                                  timeout=TIMEOUT)
    modal.get_by_role("button", name="Close").last.click()
    board = _board(page)
    expect(board).to_contain_text(f"Fail over {eligible - 3} hubs from {REGION}")
    expect(board).not_to_contain_text("weu-plant-000 ")
    shot(page, "regional-crowded-02-approval")
