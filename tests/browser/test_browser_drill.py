"""A whole drill in the console, in Debian's Chromium, as a person runs it (issue #23): the
dialog with what the drill will do, Bob's approval, the failover leg and its verdict, the
thread's word on when the failback leg starts, the failback leg by itself and its verdict, and
the report with the measured figures; a hub not marked for drills refused before any dialog;
``/iothub drills``. Screenshots land in test-artifacts/sandbox/: drill-dialog, drill-cooldown,
drill-report and drill-list (.png)."""
# ruff: noqa: F811 (test_browser's ``page`` fixture is imported, and used as a parameter)

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.domain.drill import DRILL_ALLOWED, DRILL_TAG
from failover_sandbox.fleet._fleet import DEFAULT_FLEET
from failover_sandbox.run import DEMO_HUB, Sandbox

from .conftest import free_port
from .test_browser import TIMEOUT, be, page, say, shot  # noqa: F401 (the page fixture)
from .test_browser_regional import _element_shot
from .test_browser_verification import _approve, _in_order, _thread

pytestmark = pytest.mark.browser

from playwright.sync_api import Locator, Page, expect  # noqa: E402

# Twice the sandbox's default: Azure's hour of cool-down is 30 s, the file about a minute.
SPEED = 120.0
MARKED = [h.name for h in DEFAULT_FLEET if (h.tags or {}).get(DRILL_TAG) == DRILL_ALLOWED]
HUB = "fabrikam-staging-eus"  # 1,200 devices in East US: a move takes ~4 s at 120×
PAIRED, HOME = "West US", "East US"
# ms. A leg: the move (~4 s), then its verdict (2 whole minutes after it and Azure Monitor's
# 3 minutes of delay: ~3 s, on the sandbox's 2-second polls). The cool-down: 30 s.
LEG = 30_000
COOLDOWN = 45_000


@pytest.fixture
def drill_sandbox() -> Iterator[Sandbox]:
    # The sandbox's own poll interval (2 s), as `failover-bot sandbox` runs.
    sandbox = Sandbox(Settings(bot_log_level="WARNING"), port=free_port(), bot_port=free_port(),
                      speed=SPEED).start()
    yield sandbox
    sandbox.stop()


def _ask_for_drill(page: Page) -> Locator:
    """Alice asks for the drill through its dialog; returns its approval message."""
    be(page, "Alice (on-call)")
    say(page, f"/iothub drill {HUB}")
    modal = page.get_by_role("dialog")
    expect(modal).to_contain_text("Drill IoT Hub", timeout=TIMEOUT)
    plan = modal.locator(".block").filter(has_text="What the drill will do")
    expect(plan).to_contain_text(f"fail {HUB} over to {PAIRED}, then verify it",
                                 timeout=TIMEOUT)  # live state filled in
    # Azure's hour, on the sandbox's clock: 3,600 s / 120.
    expect(plan).to_contain_text("wait for Azure's cool-down (30s)")
    expect(plan).to_contain_text(f"fail it back to {HOME} by itself")
    expect(plan).to_contain_text("It uses 1 failover and 1 failback of today's quota")
    expect(plan).not_to_contain_text(":test_tube:")  # the console knows the emoji
    modal.get_by_label("Reason or incident link").fill("Quarterly DR rehearsal (DR-2026-Q3)")
    modal.get_by_label("Type the hub name to confirm").fill(HUB)
    _element_shot(page, modal, "drill-dialog")
    modal.get_by_role("button", name="Request drill").click()
    expect(modal).to_contain_text("waiting for approval", timeout=TIMEOUT)
    modal.get_by_role("button", name="Close").last.click()
    expect(modal).to_be_hidden()
    asked = page.locator("#messages .message").filter(has_text="Needs a second person's approval")
    asked = asked.filter(has_text=HUB).last
    expect(asked).to_be_visible(timeout=TIMEOUT)
    expect(asked).to_contain_text("Approving approves both legs")  # what Bob approves
    return page.locator(f'#messages .message[data-ts="{asked.get_attribute("data-ts")}"]')


def test_a_drill_runs_both_legs_by_itself_and_reports_what_it_measured(
        drill_sandbox: Sandbox, page: Page) -> None:
    sandbox = drill_sandbox
    page.goto(sandbox.console_url)
    assert HUB in MARKED and DEMO_HUB not in MARKED and len(MARKED) == 2, MARKED

    # A hub not marked for drills: refused, with the way to allow it, and no dialog.
    be(page, "Alice (on-call)")
    mine = page.locator("#messages .message.ephemeral").last
    opened = len(sandbox.workspace.calls("views.open"))
    say(page, f"/iothub drill {DEMO_HUB}")
    expect(mine).to_contain_text(f"{DEMO_HUB} is not marked for drills", timeout=TIMEOUT)
    expect(mine).to_contain_text(f"tag the hub {DRILL_TAG} = {DRILL_ALLOWED}")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert len(sandbox.workspace.calls("views.open")) == opened

    asked = _ask_for_drill(page)
    _approve(page, asked)
    expect(asked.get_by_role("button", name="Stop drill")).to_be_visible(timeout=TIMEOUT)

    be(page, "Alice (on-call)")
    thread = _thread(page, asked)
    expect(thread).to_contain_text("the failover leg succeeded", timeout=LEG)
    cooling = thread.locator(".message").filter(has_text="the failover leg succeeded")
    expect(cooling).to_contain_text(re.compile(r"starts by itself at \d\d:\d\d UTC"))
    expect(cooling.get_by_role("button", name="Stop drill")).to_be_visible()
    expect(thread).to_contain_text("Verified:", timeout=LEG)
    shot(page, "drill-cooldown")

    expect(thread).to_contain_text("the failback leg", timeout=COOLDOWN)
    expect(thread).to_contain_text("starts now, approved with the drill by @Bob")
    report = thread.locator(".message").filter(has_text="Drill report:")
    expect(report).to_be_visible(timeout=2 * LEG)
    expect(report).to_contain_text(f"Drill report: {HUB}")
    for leg, where in (("Failover", "in the paired region"), ("Failback", "at home")):
        line = re.compile(rf"{leg}: approval to Azure's acceptance [^;]+; to active {where} "
                          r"[^;]+; to devices verified [^;]+; verdict: verified")
        expect(report).to_contain_text(line)
    expect(report).to_contain_text("Quota used: 1 failover, 1 failback")
    expect(report.get_by_role("button", name="Stop drill")).to_have_count(0)  # it is over
    _in_order(thread.inner_text(), "Azure accepted", "the failover leg succeeded",
              "the failback leg", "Drill report:")
    shot(page, "drill-report")
    # The failback leg is a request of its own, approved with the drill: its message and
    # its verdict are in its own thread.
    back = page.locator("#messages .message").filter(has_text=f"Fail back {HUB}").last
    expect(back).to_contain_text("Approved by @Bob")
    expect(back).to_contain_text(f"Done: active in {HOME}")
    expect(_thread(page, back)).to_contain_text("Verified:")

    say(page, "/iothub drills")
    expect(mine).to_contain_text("Last drill of each hub", timeout=TIMEOUT)
    expect(mine).to_contain_text(re.compile(rf"{HUB} .*: done \(verified, verified\)"))
    never = [h for h in MARKED if h != HUB]
    expect(mine).to_contain_text(f"Marked for drills, never drilled• {never[0]}")
    shot(page, "drill-list")
