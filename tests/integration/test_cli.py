"""The command line as an operator uses it: ``failover-bot audit`` and start-up errors."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.service import BatchSubmitted, FailoverService, SubmitBatch
from bot.store.migrate import current_revision, upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

NOW = datetime.now(UTC).replace(microsecond=0)


def _seed(url: str) -> None:
    upgrade(url)
    events = [
        AuditEvent(NOW - timedelta(days=10), AuditAction.REQUESTED, "U_OLD", "old-hub",
                   "fr-00000001", OperationKind.FAILOVER),
        AuditEvent(NOW - timedelta(hours=3), AuditAction.REQUESTED, "U_REQ", "contoso-weu",
                   "fr-0000000a", OperationKind.FAILOVER, {"reason": "INC-7, West Europe"}),
        AuditEvent(NOW - timedelta(hours=2), AuditAction.REFUSED, "U_REQ", "contoso-weu",
                   "fr-0000000a", OperationKind.FAILOVER, {"reason": "self_approval"}),
        AuditEvent(NOW - timedelta(hours=1), AuditAction.APPROVED, "U_APP", "contoso-weu",
                   "fr-0000000a", OperationKind.FAILOVER),
        AuditEvent(NOW - timedelta(minutes=5), AuditAction.REQUESTED, "U_REQ", "fabrikam-wus2",
                   "fr-0000000b", OperationKind.FAILBACK),
        AuditEvent(NOW - timedelta(minutes=4), AuditAction.REQUESTED, "U_REQ", "contoso-neu",
                   "fr-0000000c", OperationKind.FAILOVER, batch_id="fb-0000000c"),
    ]
    factory = unit_of_work_factory(url)
    with factory() as uow:
        for event in events:
            uow.events.append(event)
        uow.commit()


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    _seed(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_audit_csv_prints_the_matching_rows_newest_first(
        seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--hub", "contoso-weu", "--since", "7d", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["action"] for r in rows] == ["approved", "refused", "requested"]
    assert {r["request_id"] for r in rows} == {"fr-0000000a"}
    assert rows[2]["actor"] == "U_REQ" and rows[2]["kind"] == "failover"
    # Words for people since issue #14 (JSON keeps the raw detail).
    assert rows[2]["detail"] == "reason: INC-7, West Europe"
    assert rows[0]["at"] == (NOW - timedelta(hours=1)).isoformat()


def test_audit_filters_by_user_status_and_kind(seeded: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", "--user", "U_REQ", "--status", "refused", "--format", "json"])
    events = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["detail"]["reason"]) for e in events] == [("refused",
                                                                       "self_approval")]
    main(["audit", "--kind", "failback", "--format", "table"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["AT", "ACTION", "HUB"]
    assert len(table) == 2 and "fabrikam-wus2" in table[1]


def test_audit_filters_by_batch(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--batch", "fb-0000000c", "--format", "json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [(e["hub"], e["request_id"]) for e in events] == [("contoso-neu", "fr-0000000c")]


def test_audit_without_since_reaches_old_events(seeded: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", "--format", "csv"])
    assert "old-hub" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--since", "last tuesday"], ["--status", "exploded"]])
def test_invalid_audit_input_is_a_clear_error_with_exit_code_2(
        seeded: str, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert args[1] in err and ("invalid time" in err or "unknown status" in err)


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SLACK_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=tmp_path, env={**clean, **env}, timeout=60, check=False)


def test_a_bad_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    result = _run(["serve"], tmp_path, BOT_POLL_INTERVAL="abc")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "BOT_POLL_INTERVAL" in lines[0] and "abc" in lines[0]


def test_invalid_since_from_the_console_script_exits_2(tmp_path: Path) -> None:
    result = _run(["audit", "--since", "yesterday-ish"], tmp_path,
                  DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert "invalid time 'yesterday-ish'" in result.stderr


@pytest.mark.parametrize(("env", "variable"), [
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "AZURE_SUBSCRIPTION_ID"),
    ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
    ({"BOT_LOG_LEVEL": "chatty"}, "BOT_LOG_LEVEL"),
])
def test_missing_or_bad_settings_for_serve_are_one_line_and_exit_2(
        tmp_path: Path, env: dict[str, str], variable: str) -> None:
    result = _run(["serve"], tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
                  AZURE_SUBSCRIPTION_ID="", **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]
    assert not (tmp_path / "x.db").exists()  # nothing was touched before the check


def test_audit_of_a_database_that_does_not_exist_says_so_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere.db'}")
    assert main(["audit"]) == 1
    assert "no audit database at" in capsys.readouterr().err
    assert not (tmp_path / "nowhere.db").exists()


def test_audit_reads_an_old_schema_without_migrating_and_says_what_to_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    sqlite3.connect(tmp_path / "old.db").close()  # a database nobody migrated
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["audit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run `failover-bot db upgrade`" in err[0]
    assert current_revision(url) is None  # untouched


def test_an_unforeseen_failure_is_still_one_line_and_exit_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234-abcd-SuperSecret")

    def broken(*args: object) -> int:
        raise RuntimeError("disk on fire\nsecond line; token xoxb-1234-abcd-SuperSecret")

    monkeypatch.setattr("bot.cli._dispatch", broken)
    assert main(["doctor"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "unexpected error: RuntimeError: disk on fire second line" in err[0]
    assert "SuperSecret" not in err[0]


def test_table_and_csv_show_words_not_markup_or_reason_codes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'words.db'}"
    upgrade(url)
    with unit_of_work_factory(url)() as uow:
        uow.events.append(AuditEvent(
            NOW, AuditAction.REFUSED, "U0BOB", "contoso-weu", "fr-0000000c",
            OperationKind.FAILOVER,
            {"reason": "hub_locked", "message": "A failover of `contoso-weu` is running "
             "(request `fr-0000000a`, requested by <@U0ALICE>). Run it from <#C0INC|incident>."}))
        uow.commit()
    monkeypatch.setenv("DATABASE_URL", url)

    for fmt in ("table", "csv"):
        main(["audit", "--format", fmt])
        out = capsys.readouterr().out
        assert "A failover of `contoso-weu` is running" in out  # the table clips at 60
        assert "<@" not in out and "<#" not in out and "hub_locked" not in out
        if fmt == "csv":
            assert "requested by @U0ALICE" in out and "from #incident" in out
    main(["audit", "--format", "json"])  # machines get the raw fields
    raw = json.loads(capsys.readouterr().out)[0]["detail"]
    assert raw["reason"] == "hub_locked" and "<@U0ALICE>" in raw["message"]


# ---- the sandbox: found through an entry point, absent from the container image -----------------

class _Declared:
    """An entry point whose package is not there (the image removes failover_sandbox)."""

    name = "sandbox"

    def load(self) -> object:
        raise ModuleNotFoundError("No module named 'failover_sandbox'")


@pytest.mark.parametrize("points", [[], [_Declared()]], ids=["undeclared", "removed"])
def test_sandbox_without_its_package_is_one_line_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        points: list[object]) -> None:
    monkeypatch.setattr("bot.cli.entry_points", lambda group: points)
    assert main(["sandbox", "--port", "8123", "--no-browser"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "`sandbox` is not installed here" in err[0] and "failover_sandbox" in err[0]


def test_the_sandbox_command_comes_from_the_entry_point() -> None:
    from importlib.metadata import entry_points

    (point,) = [p for p in entry_points(group="failover_bot.commands") if p.name == "sandbox"]
    assert point.value == "failover_sandbox.command:COMMAND"
    assert "failover_sandbox" not in " ".join(
        line for line in Path(sys.modules["bot.cli"].__file__ or "").read_text().splitlines()
        if line.startswith(("import ", "from ")))


# ---- a regional batch (issue #15): `audit --batch fb-…` --------------------------------------

def _regional_batch(url: str) -> str:
    """A batch of three West Europe hubs, requested, approved and stopped before any start,
    through the real use cases; plus an unrelated single hub's event. Returns the batch id."""
    clock = FakeClock()
    gateway = SimulatedIotHubGateway(clock)
    for name in ("weu-a", "weu-b", "weu-c"):
        gateway.add_hub(name, "West Europe", 1_000)
    engine = make_engine(url)
    try:
        service = FailoverService(uow=unit_of_work_factory(engine), gateway=gateway,
                                  clock=clock, access=AccessPolicy())
        submitted = service.regional.submit(SubmitBatch(
            actor=Actor("U_REQ"), channel_id="C_INC", kind=OperationKind.FAILOVER,
            region="westeurope", typed_region="West Europe", reason="INC-9 West Europe down",
            hubs=["weu-a", "weu-b", "weu-c"]))
        assert isinstance(submitted, BatchSubmitted), submitted
        batch_id = submitted.batch.id
        assert service.batch_deciding.approve(Actor("U_APP"), batch_id).ok
        assert service.batch_deciding.stop(Actor("U_REQ"), batch_id).ok
        with service.uow() as uow:
            uow.events.append(AuditEvent(clock.now(), AuditAction.REQUESTED, "U_REQ", "other",
                                         "fr-0000000c", OperationKind.FAILOVER))
            uow.commit()
    finally:
        engine.dispose()
    return batch_id


def test_audit_batch_shows_the_batchs_own_events_and_every_hubs(
        db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", db_url)
    batch_id = _regional_batch(db_url)
    assert main(["audit", "--batch", batch_id.upper().replace("FB-", "fb-"),
                 "--format", "json", "--limit", "500"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert {e["batch_id"] for e in events} == {batch_id}
    own = [e["action"] for e in events if not e["hub"]]  # newest first
    assert own == ["stopped", "approved", "requested"]
    assert next(e for e in events if e["action"] == "stopped" and not e["hub"])[
        "actor"] == "U_REQ"
    per_hub = {(e["hub"], e["action"]) for e in events if e["hub"]}
    assert {hub for hub, _ in per_hub} == {"weu-a", "weu-b", "weu-c"}
    assert {("weu-a", "requested"), ("weu-a", "approved")} <= per_hub
    assert all(e["request_id"].startswith("fr-") for e in events if e["hub"])

    main(["audit", "--batch", batch_id, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(events) and list(rows[0])[-1] == "batch_id"
    requested = next(r for r in rows if r["action"] == "requested" and not r["hub"])
    assert "reason: INC-9 West Europe down" in requested["detail"]
    assert "region westeurope" in requested["detail"] and "3 hubs" in requested["detail"]

    main(["audit", "--batch", batch_id, "--status", "stopped"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["AT", "ACTION", "HUB", "KIND", "ACTOR", "REQUEST_ID",
                                "BATCH_ID", "DETAIL"]
    assert len(table) == 2 and batch_id in table[1]


@pytest.mark.parametrize("batch", ["fr-1a2b3c4d", "fb-xyz", "fb-", "1a2b3c4d"])
def test_a_malformed_batch_id_is_a_clear_error_with_exit_code_2(
        seeded: str, capsys: pytest.CaptureFixture[str], batch: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--batch", batch])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid batch id {batch!r}" in err and "fb-" in err


def test_audit_of_an_unknown_batch_matches_nothing(seeded: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--batch", "fb-0123abcd"]) == 0
    assert capsys.readouterr().out == "no audit events match\n"
