"""What users run: the wheel, installed with requirements.lock into a fresh virtualenv outside
the repository, its console script started from an empty folder as a subprocess.

Built once per session (about a minute: pip fetches the build backend and the pins, from its
cache when it can). Start-up failures are one line on stderr and an exit status."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from wheel_install import (
    ROOT,
    InstalledBot,
    build_wheel,
    http_json,
    http_ok,
    install,
    stop,
    wait_for,
)

from bot.store.migrate import head_revision
from failover_sandbox.slack_api import SANDBOX_TOKEN, FakeSlackServer
from tests.support import free_port

pytestmark = pytest.mark.wheel

SIGNING_SECRET = "wheel-test-signing-secret"  # made up: nothing verifies against it here
# A client-secret credential: serve builds it, and fetches no token until it calls Azure.
AZURE = {"AZURE_SUBSCRIPTION_ID": "91d12660-3dec-467a-be2a-213b5544ddc0",
         "AZURE_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
         "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
         "AZURE_CLIENT_SECRET": "made-up-client-secret"}


@pytest.fixture(scope="session")
def bot(tmp_path_factory: pytest.TempPathFactory) -> InstalledBot:
    where = tmp_path_factory.mktemp("wheel")
    return install(build_wheel(where), where / "venv")


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    """Where the command is started: nothing of the repository, no .env."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackServer]:
    with FakeSlackServer() as server:
        yield server


def serve_env(slack: FakeSlackServer, database: str, **overrides: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": SANDBOX_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url, "DATABASE_URL": database, **AZURE, **overrides}


# ---- the wheel ---------------------------------------------------------------------------------

def test_the_wheel_carries_every_file_of_the_package(bot: InstalledBot) -> None:
    shipped = set(zipfile.ZipFile(bot.wheel).namelist())
    in_tree = {path.relative_to(ROOT).as_posix()
               for package in ("bot", "failover_sandbox") for path in (ROOT / package).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    assert in_tree - shipped == set()
    assert any(name.startswith("bot/store/migrations/versions/") for name in shipped)
    assert "failover_sandbox/static/index.html" in shipped
    # The CLI finds the sandbox through an entry point: bot never imports it.
    points = next(name for name in shipped if name.endswith(".dist-info/entry_points.txt"))
    declared = zipfile.ZipFile(bot.wheel).read(points).decode()
    assert "[failover_bot.commands]" in declared
    assert "sandbox = failover_sandbox.command:COMMAND" in declared


def test_the_installed_bot_runs_from_the_virtualenv_not_the_repository(
        bot: InstalledBot, empty_dir: Path) -> None:
    python = bot.venv / "bin" / "python"
    result = bot.run([], empty_dir)  # no command: usage, exit 2
    assert result.returncode == 2
    where = subprocess.run([str(python), "-c", "import bot; print(bot.__file__)"],
                           cwd=empty_dir, env=bot.env(), capture_output=True, text=True,
                           check=True).stdout.strip()
    assert Path(where).is_relative_to(bot.venv)


def test_help_lists_the_commands_in_plain_text(bot: InstalledBot, empty_dir: Path) -> None:
    result = bot.run(["--help"], empty_dir)
    assert result.returncode == 0, result.stderr
    assert "``" not in result.stdout
    for command in ("serve", "sandbox", "audit", "db", "doctor"):
        assert command in result.stdout


# ---- what operators run ------------------------------------------------------------------------

def test_db_upgrade_then_audit(bot: InstalledBot, empty_dir: Path, blank_db_url: str) -> None:
    head = head_revision()
    upgraded = bot.run(["db", "upgrade"], empty_dir, DATABASE_URL=blank_db_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database at revision {head}"
    current = bot.run(["db", "current"], empty_dir, DATABASE_URL=blank_db_url)
    assert current.stdout.strip() == head

    audit = bot.run(["audit", "--format", "json"], empty_dir, DATABASE_URL=blank_db_url)
    assert audit.returncode == 0, audit.stderr
    assert json.loads(audit.stdout) == []
    assert list(empty_dir.iterdir()) == []  # nothing written where it was started


def test_sandbox_console_answers(bot: InstalledBot, empty_dir: Path, tmp_path: Path) -> None:
    port = free_port(with_next=True)
    process = bot.start(["sandbox", "--no-browser", "--port", str(port)], empty_dir,
                        tmp_path / "logs")
    try:
        wait_for("the console", lambda: http_ok(f"http://127.0.0.1:{port}/"), process,
                 tmp_path / "logs")
        assert http_ok(f"http://127.0.0.1:{port}/static/console.js")  # package data
    finally:
        status = stop(process)
    assert status == 0
    assert "Traceback" not in (tmp_path / "logs" / "stderr").read_text()


def test_serve_becomes_healthy_with_its_work_process(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path, slack: FakeSlackServer) -> None:
    port = free_port()
    logs = tmp_path / "logs"
    env = serve_env(slack, f"sqlite:///{tmp_path / 'bot.db'}", PORT=str(port))
    process = bot.start(["serve"], empty_dir, logs, **env)
    try:
        health = wait_for("/healthz to say ok",
                          lambda: _ok(http_json(f"http://127.0.0.1:{port}/healthz")),
                          process, logs)
        assert health == {"status": "ok", "database": "writable", "work_process": "running"}
        ready = wait_for("/readyz to answer 200",
                         lambda: http_json(f"http://127.0.0.1:{port}/readyz"), process, logs)
        assert ready == {"status": "ready", "database": "writable", "work_process": "running"}
    finally:
        status = stop(process)
    assert status == 0
    stderr = (logs / "stderr").read_text().splitlines()
    assert stderr and all(json.loads(line) for line in stderr)  # logs are JSON lines
    assert SANDBOX_TOKEN not in "".join(stderr) and AZURE["AZURE_CLIENT_SECRET"] not in \
        "".join(stderr)


def _ok(health: object) -> object:
    return health if isinstance(health, dict) and health.get("status") == "ok" else None


# ---- start-up failures: one line, an exit status ---------------------------------------------

def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("failover-bot: ")
    return lines[0]


@pytest.mark.parametrize(("url", "says"), [
    ("garbage", "not a database URL"),
    ("mysql://bot:hunter2@db.example.com/bot", "'mysql' databases are not supported"),
    ("postgresql+psycopg2://bot@db.example.com/bot", "not supported"),
])
def test_an_unusable_database_url_is_exit_2_naming_it(
        bot: InstalledBot, empty_dir: Path, url: str, says: str) -> None:
    result = bot.run(["db", "upgrade"], empty_dir, DATABASE_URL=url)
    assert result.returncode == 2
    line = _one_line(result)
    assert "DATABASE_URL" in line and says in line
    assert "sqlite:///" in line and "postgresql+psycopg://" in line  # what is accepted
    assert "hunter2" not in line


def test_a_sqlite_file_in_a_missing_folder_is_exit_2_and_creates_nothing(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-such-folder"
    result = bot.run(["db", "upgrade"], empty_dir, DATABASE_URL=f"sqlite:///{folder}/bot.db")
    assert result.returncode == 2
    line = _one_line(result)
    assert "DATABASE_URL" in line and str(folder) in line
    assert not folder.exists()


@pytest.mark.parametrize("command", [["db", "upgrade"], ["audit"], ["serve"]])
def test_an_unreachable_database_is_exit_1_saying_so_once(
        bot: InstalledBot, empty_dir: Path, slack: FakeSlackServer, command: list[str]) -> None:
    url = f"postgresql+psycopg://bot:hunter2@127.0.0.1:{free_port()}/bot"
    result = bot.run(command, empty_dir, **serve_env(slack, url))
    assert result.returncode == 1
    line = _one_line(result)
    assert line.count("the database is unavailable") == 1 and "refused" in line
    assert "hunter2" not in line


def test_audit_of_an_unmigrated_database_says_to_upgrade_and_changes_nothing(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "old.db").close()
    result = bot.run(["audit"], empty_dir, DATABASE_URL=f"sqlite:///{tmp_path / 'old.db'}")
    assert result.returncode == 2
    assert "run `failover-bot db upgrade`" in _one_line(result)
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_serve_with_slack_unreachable_is_exit_1_naming_slack_api_url(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path, slack: FakeSlackServer) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    env = serve_env(slack, f"sqlite:///{tmp_path / 'bot.db'}", SLACK_API_URL=nowhere)
    result = bot.run(["serve"], empty_dir, **env)
    assert result.returncode == 1
    line = _one_line(result)
    assert f"SLACK_API_URL={nowhere}" in line and "refused" in line


def test_serve_with_a_token_slack_refuses_is_exit_2_naming_slack_bot_token(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path, slack: FakeSlackServer) -> None:
    token = "xoxb-not-the-workspaces-token"
    env = serve_env(slack, f"sqlite:///{tmp_path / 'bot.db'}", SLACK_BOT_TOKEN=token)
    result = bot.run(["serve"], empty_dir, **env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "SLACK_BOT_TOKEN" in line and "invalid_auth" in line and token not in line


def test_serve_with_azure_identity_variables_that_make_no_credential_is_exit_2(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path, slack: FakeSlackServer) -> None:
    env = serve_env(slack, f"sqlite:///{tmp_path / 'bot.db'}",
                    AZURE_TENANT_ID="not a tenant!")
    result = bot.run(["serve"], empty_dir, **env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "AZURE_TENANT_ID" in line and "made-up-client-secret" not in line


def test_serve_on_a_port_in_use_is_exit_2_naming_port(
        bot: InstalledBot, empty_dir: Path, tmp_path: Path, slack: FakeSlackServer) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = serve_env(slack, f"sqlite:///{tmp_path / 'bot.db'}", PORT=str(port))
        result = bot.run(["serve"], empty_dir, **env)
    assert result.returncode == 2
    line = _one_line(result)
    assert "PORT" in line and str(port) in line
