"""Drills on the real ``serve`` processes: a database that stops taking writes shows on
/readyz, and the bot recovers by itself when it takes them again; a SQLite file deleted under
the running bot is noticed, reported once and never written to."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.slack.listener_deps import STORE_DOWN
from bot.slack.modals import NAME_INPUT, REASON_INPUT
from bot.store.migrate import upgrade
from bot.store.tables import FailoverRequestRow

from .conftest import HUB
from .serve_harness import ALICE, Drill, running_drill

pytestmark = pytest.mark.process_drill

OTHER_HUB = "contoso-prod-neu"
BOT_USER = "nobody"  # file permissions do not bind root, who runs the tests
GONE_S = 4.0  # the poller's rounds fail four times a second meanwhile (a 1 s poll interval)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A directory of the bot's user, holding a migrated SQLite database."""
    entry = pwd.getpwnam(BOT_USER)
    data = tmp_path / "data"
    data.mkdir()
    upgrade(f"sqlite:///{data / 'bot.db'}")
    for path in (data, *data.iterdir()):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return data


@pytest.fixture
def drill_as_user(request: pytest.FixtureRequest, tmp_path: Path,
                  data_dir: Path) -> Iterator[Drill]:
    with running_drill(request, tmp_path, f"sqlite:///{data_dir / 'bot.db'}") as ground:
        yield ground


def _set_writable(data: Path, writable: bool) -> None:
    for path in data.glob("bot.db*"):
        path.chmod(0o644 if writable else 0o444)


def _readiness(drill: Drill) -> tuple[int, dict[str, Any]]:
    return drill.health("/readyz")


def _requests(drill: Drill) -> int:
    with Session(drill.engine) as session:
        return len(session.exec(select(FailoverRequestRow)).all())


def _modal_saying(drill: Drill, text: str) -> bool:
    return any(text in str(v["view"]) for v in drill.workspace.snapshot()["views"]
               if v["user"] == ALICE.id)


def _submit_one(drill: Drill, hub: str = HUB) -> None:
    """Alice asks for a failover and submits the dialog, if it opens: reading may fail too
    (a new SQLite connection cannot read a write-protected WAL database), and then the
    dialog says the database is down instead."""
    console = drill.console()
    opened = len(drill.workspace.snapshot()["views"])
    assert console.slash_command(ALICE.id, f"/iothub failover {hub}")["ok"]

    def confirmation_or_down() -> dict[str, Any] | None:
        for shown in drill.workspace.snapshot()["views"][opened:]:
            view = shown["view"]
            if (STORE_DOWN in str(view)
                    or any(b.get("block_id") == NAME_INPUT for b in view.get("blocks") or [])):
                return dict(view)
        return None

    view = drill.wait_for("the confirmation dialog", confirmation_or_down)
    if STORE_DOWN not in str(view):
        assert console.submit(ALICE.id, view["id"], {
            NAME_INPUT: {NAME_INPUT: hub}, REASON_INPUT: {REASON_INPUT: "INC-9"}})["ok"]


def test_a_read_only_database_is_not_ready_and_recovers_without_a_restart(
        drill_as_user: Drill, data_dir: Path) -> None:
    drill = drill_as_user
    drill.arm.add_hub(OTHER_HUB, "westeurope", "northeurope", devices=1_000)
    drill.start_bot(user=BOT_USER)
    assert drill.bot is not None
    front = drill.bot.process.pid
    assert _readiness(drill) == (200, {"status": "ready", "database": "writable",
                                       "work_process": "running"})
    drill.request_failover()  # writes work, and the pools hold writable connections
    assert _requests(drill) == 1

    _set_writable(data_dir, False)
    drill.wait_for("/readyz to say read-only", lambda: _readiness(drill)[0] == 503)
    code, body = _readiness(drill)
    assert body["database"] == "read-only" and "the database is read-only" in body["problems"]
    code, body = drill.health()
    assert code == 200 and body["status"] == "degraded" and body["database"] == "read-only"
    # Meanwhile a request fails clearly, although older connections could still write.
    _submit_one(drill, OTHER_HUB)
    drill.wait_for("the dialog to say the database is down",
                   lambda: _modal_saying(drill, STORE_DOWN))
    assert _requests(drill) == 1

    _set_writable(data_dir, True)
    drill.wait_for("/readyz to say ready", lambda: _readiness(drill)[0] == 200)
    _submit_one(drill, OTHER_HUB)  # written, with no restart
    drill.wait_for("the second request to be written", lambda: _requests(drill) == 2)

    assert drill.bot.process.pid == front and drill.bot.process.poll() is None
    restarts = [r for r in drill.log_records() if "work process exited" in r["message"]]
    assert restarts == []


def test_a_deleted_sqlite_file_is_reported_once_and_never_written(drill: Drill) -> None:
    drill.start_bot()
    assert drill.bot is not None
    path = Path(str(drill.engine.url.database))
    drill.engine.dispose()  # the drill's own reader must not hold the old file either
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    drill.wait_for("/readyz to notice", lambda: _readiness(drill)[0] == 503)
    code, body = _readiness(drill)
    assert code == 503
    assert body["database"] == "replaced" and body["problems"] == ["the database is replaced"]
    assert drill.health()[0] == 200

    # The work process refuses rather than read or write the old inode: the dialog says so.
    assert drill.console().slash_command(ALICE.id, f"/iothub failover {HUB}")["ok"]
    drill.wait_for("the dialog to say the database is down",
                   lambda: _modal_saying(drill, STORE_DOWN))
    for _ in range(3):  # probes keep asking; the log must not repeat itself
        drill.wait_for("a fresh probe", lambda: _readiness(drill)[0] == 503)

    told = [r for r in drill.log_records()
            if r["logger"] == "bot.store.health" and "was deleted" in r["message"]]
    by_process: dict[int, int] = {}
    for record in told:
        by_process[record["pid"]] = by_process.get(record["pid"], 0) + 1
    assert by_process and set(by_process) <= {drill.bot.process.pid,
                                               drill.work_process_pid()}, told  # the bot noticed
    assert all(count == 1 for count in by_process.values()), told
    assert str(path) in told[0]["message"] and told[0]["level"] == "ERROR"
    assert not path.exists()  # nor was an empty database created in its place


def test_a_sqlite_file_gone_for_a_while_is_logged_once_then_counted(drill: Drill) -> None:
    """Moved away and back (the same file): the poller, failing every round meanwhile (four
    a second at the drill's 1 s poll interval), says so in one line, not a traceback a
    round, and says when it works again."""
    drill.start_bot()
    assert drill.bot is not None
    path = Path(str(drill.engine.url.database))
    drill.engine.dispose()
    aside = path.with_name("moved-away.db")
    path.rename(aside)

    gone = time.monotonic()
    drill.wait_for("/readyz to notice", lambda: _readiness(drill)[0] == 503)
    drill.wait_for(f"{GONE_S:.0f} s of rounds without the file",
                   lambda: time.monotonic() > gone + GONE_S)
    aside.rename(path)
    drill.wait_for("/readyz to say ready", lambda: _readiness(drill)[0] == 200)

    def poller_lines() -> list[dict[str, Any]]:
        return [r for r in drill.log_records() if r["logger"] == "bot.poller.poller"]

    recovered = drill.wait_for("the poller to say it works again", lambda: [
        r for r in poller_lines() if "works again" in r["message"]])
    failed = [r for r in poller_lines() if "failed" in r["message"]]
    assert len(failed) == 1, poller_lines()
    assert "StoreUnavailable" in failed[0]["message"] and "exc" not in failed[0], failed
    assert len(recovered) == 1, recovered
    rounds = int(recovered[0]["message"].split("after ")[1].split()[0])
    assert rounds >= 2 * GONE_S, recovered  # many rounds failed, one line said so
    assert [r for r in drill.log_records() if "exc" in r] == []  # no traceback anywhere
