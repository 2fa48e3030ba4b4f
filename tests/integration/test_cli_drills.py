"""``failover-bot drills`` as an operator uses it for an audit or a DR review: drill history
with the measured recovery times, as a table, CSV or JSON, filtered by hub, age and count; a
bad option is one line and exit status 2. (A drill run end to end, then read here:
``tests/integration/slack/test_drill_results.py``.)"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.domain.drill import Drill, DrillStatus
from bot.store.migrate import upgrade
from bot.store.sql import unit_of_work_factory

NOW = datetime.now(UTC).replace(microsecond=0)
AZURE_WORDS = "The failover leg `fr-0000000b` did not succeed: Quota exceeded (QuotaExceeded)."


def _report(failover: dict[str, Any], failback: dict[str, Any] | None = None,
            failure: str | None = None) -> dict[str, Any]:
    """A report as ``bot.service.drilling`` keeps it (the fields read back here)."""
    legs = {"failover": {"ran": True, "status": "succeeded", **failover},
            "failback": {"ran": True, "status": "succeeded", **failback} if failback
            else {"ran": False}}
    return {"legs": legs, "quota_used": {leg: int(legs[leg]["ran"]) for leg in legs},
            "failure": failure, "said": {}}


def _drill(drill_id: str, hub: str, ago: timedelta, status: DrillStatus,
           report: dict[str, Any] | None, **extra: Any) -> Drill:
    return Drill(id=drill_id, hub=hub, channel_id="C0DRILL", requested_by="U0ALICE",
                 reason="quarterly rehearsal", created_at=NOW - ago,
                 failover_request_id=f"fr-{drill_id[3:]}", status=status,
                 approved_by="U0BOB", report=report,
                 ended_at=NOW - ago + timedelta(hours=2) if report else None, **extra)


DRILLS = [
    _drill("dr-0000000a", "contoso-test", timedelta(days=40), DrillStatus.DONE, _report(
        {"to_accepted_s": 12.0, "to_active_s": 840.0, "to_verified_s": 180.0,
         "verdict": "verified"},
        {"to_accepted_s": 30.0, "to_active_s": 600.0, "to_verified_s": 240.0,
         "verdict": "verified"})),
    _drill("dr-0000000b", "fabrikam-test", timedelta(days=3), DrillStatus.FAILED,
           _report({"status": "failed"}, failure=AZURE_WORDS)),
    _drill("dr-0000000c", "contoso-test", timedelta(days=2), DrillStatus.DONE, _report(
        {"to_accepted_s": 8.5, "to_active_s": 720.0, "to_verified_s": 150.0,
         "verdict": "verified"},
        {"to_accepted_s": 30.0, "to_active_s": 660.0, "verdict": "not_recovered"}),
        scheduled_by="U0CAROL", schedule_id="ds-0000000c"),
    _drill("dr-0000000d", "contoso-test", timedelta(hours=1), DrillStatus.COOLING_DOWN, None),
]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def drilled(database: str) -> str:
    with unit_of_work_factory(database)() as uow:
        for drill in DRILLS:
            uow.drills.add(drill)
        uow.commit()
    return database


def test_json_lists_every_drill_newest_first_with_its_recovery_times(
        drilled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drills", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["drill"] for r in rows] == ["dr-0000000d", "dr-0000000c", "dr-0000000b",
                                          "dr-0000000a"]
    scheduled = rows[1]
    assert scheduled == {
        "hub": "contoso-test", "drill": "dr-0000000c",
        "started": (NOW - timedelta(days=2)).isoformat(),
        "ended": (NOW - timedelta(days=2, hours=-2)).isoformat(),
        "status": "done", "requested_by": "U0ALICE", "approved_by": "U0BOB",
        "scheduled_by": "U0CAROL",
        "failover_to_accepted_s": 8.5, "failover_to_active_s": 720.0,
        "failover_to_verified_s": 150.0,
        "failback_to_accepted_s": 30.0, "failback_to_active_s": 660.0,
        "failback_to_verified_s": None,  # not recovered: never verified
        "failover_verdict": "verified", "failback_verdict": "not_recovered",
        "quota_used_failover": 1, "quota_used_failback": 1, "failure": None}
    failed = rows[2]
    assert failed["status"] == "failed" and failed["failure"] == AZURE_WORDS
    assert (failed["quota_used_failover"], failed["quota_used_failback"]) == (1, 0)
    under_way = rows[0]  # no report yet: nothing measured, nothing counted
    assert under_way["status"] == "cooling_down" and under_way["failover_to_active_s"] is None
    assert under_way["quota_used_failover"] is None and under_way["ended"] is None


def test_csv_parses_back_filtered_by_hub_and_since(drilled: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drills", "--hub", "contoso-test", "--since", "30d", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["drill"] for r in rows] == ["dr-0000000d", "dr-0000000c"]  # not 40 days ago
    assert float(rows[1]["failover_to_active_s"]) == 720.0
    assert rows[1]["failback_to_verified_s"] == "" and rows[1]["scheduled_by"] == "U0CAROL"
    assert rows[1]["started"] == (NOW - timedelta(days=2)).isoformat()

    assert main(["drills", "--since", "2000-01-01", "--limit", "1", "--format", "csv"]) == 0
    assert [r["drill"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == [
        "dr-0000000d"]


def test_the_table_says_durations_in_words_and_the_failure_last(
        drilled: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drills", "--since", "7d"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["HUB", "DRILL", "STARTED", "STATUS", "REQUESTED_BY",
                                "APPROVED_BY", "SCHEDULED_BY", "FAILOVER", "FAILOVER_VERDICT",
                                "FAILBACK", "FAILBACK_VERDICT", "QUOTA_USED", "FAILURE"]
    assert len(table) == 4
    assert "8s / 12m / 2m 30s" in table[2] and "30s / 11m / –" in table[2]
    assert "not recovered" in table[2] and "1 failover, 1 failback" in table[2]
    assert "did not run" in table[3] and table[3].endswith("Quota exceeded (QuotaExceeded).")
    assert "cooling down" in table[1]


def test_an_empty_history_is_said_and_still_parses(database: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drills"]) == 0
    assert capsys.readouterr().out == "no drills match\n"
    assert main(["drills", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["drills", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert list(csv.DictReader(io.StringIO(out))) == [] and out.startswith("hub,drill,started")


def test_a_hub_never_drilled_matches_nothing(drilled: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drills", "--hub", "northwind-test", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(("args", "said"), [
    (["--format", "xml"], "invalid choice: 'xml'"),
    (["--since", "last quarter"], "invalid time 'last quarter'"),
    (["--limit", "0"], "invalid limit '0'"),
])
def test_a_bad_option_from_the_console_script_is_one_line_and_exit_2(
        database: str, tmp_path: Path, args: list[str], said: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SLACK_"))}
    result = subprocess.run([sys.executable, "-m", "bot", "drills", *args], capture_output=True,
                            text=True, cwd=tmp_path, env={**clean, "DATABASE_URL": database},
                            timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and lines[0].startswith("failover-bot drills:")
    assert result.stdout == ""


def test_drills_of_a_database_that_does_not_exist_says_so_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere.db'}")
    assert main(["drills"]) == 1
    assert "no audit database at" in capsys.readouterr().err
    assert not (tmp_path / "nowhere.db").exists()
