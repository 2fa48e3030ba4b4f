"""A drill's results where people look for them (issue #23): a drill run end to end through
the real Bolt app and the real SDKs (``verification_world.py``), then the Home tab (the next
drills and the last result) and ``failover-bot drills`` on the same database (its real entry
point), with the figures its report measured."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from slack_bolt import BoltRequest

from bot.cli import main
from bot.domain.drill import DrillStatus
from bot.domain.durations import humanize

from .conftest import APPROVER, BYSTANDER, REQUESTER
from .regional import home_opened_body, json_signed
from .test_drills import COOLDOWN, MARKED, _drill, _drill_of
from .verification_world import HUB, MOVE, MakeWorld


def test_a_finished_drill_is_on_the_home_tab_and_in_the_cli_history(
        make_world: MakeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    first = _drill(world)
    world.rounds(world.clock.now() + MOVE * 2 + COOLDOWN + timedelta(minutes=10))
    drill = _drill_of(world, first)
    assert drill.status is DrillStatus.DONE, drill
    world.bot.command(f"drill {HUB} --every 90d")

    body = home_opened_body(world.bot, BYSTANDER)
    assert world.bot.app.dispatch(BoltRequest(body=body, headers=json_signed(body))).status \
        == 200
    shown = json.dumps(world.bot.slack.home_views[BYSTANDER]["blocks"], ensure_ascii=False)
    assert "*Next drills*, soonest first (1 scheduled)" in shown
    assert f"`{HUB}` <!date^" in shown and f"every 90d · scheduled by <@{REQUESTER}>" in shown
    legs = (drill.report or {})["legs"]
    verified_in = humanize(timedelta(seconds=legs["failover"]["to_verified_s"]))
    assert (f"done · failover verified, failback verified · failover verified in "
            f"{verified_in}") in shown

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")  # the world's
    assert main(["drills", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["hub"], row["drill"], row["status"]) == (HUB, drill.id, "done")
    assert (row["requested_by"], row["approved_by"], row["scheduled_by"]) == (
        REQUESTER, APPROVER, None)
    for leg in ("failover", "failback"):
        for figure in ("to_accepted_s", "to_active_s", "to_verified_s"):
            assert row[f"{leg}_{figure}"] == legs[leg][figure]
        assert row[f"{leg}_verdict"] == "verified" and row[f"quota_used_{leg}"] == 1
    assert row["failover_to_active_s"] > 0 and row["failback_to_verified_s"] > 0
    assert row["failure"] is None
