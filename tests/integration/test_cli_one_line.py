"""Every failure of the real ``failover-bot`` command is one line naming what to fix, exit
status 2 for configuration, 1 for a dependency that did not answer (issue #24, item 8): no
traceback, no "unexpected error", no JSON log line, no usage block before it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.base import AuditQuery
from failover_sandbox.slack_api import APP_TOKEN, SANDBOX_TOKEN, FakeSlackServer
from tests.support import free_port

SUBSCRIPTION = "91d12660-3dec-467a-be2a-213b5544ddc0"


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bot …`` with none of this machine's bot, Slack or Azure settings."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("BOT_", "SLACK_", "AZURE_", "DATABASE_", "PORT"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=cwd, env={**clean, **env}, timeout=120, check=False)


def _one_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The whole output (stdout and stderr) is one line, and the exit status is ``status``."""
    said = (result.stdout + result.stderr).splitlines()
    assert result.returncode == status, (result.returncode, said)
    assert len(said) == 1, said
    line = said[0]
    assert line.startswith("failover-bot")
    for noise in ("Traceback", "unexpected error", '{"ts"', "usage:"):
        assert noise not in line, line
    return line


# ---- audit: --since, --until, --limit -------------------------------------------------------

@pytest.mark.parametrize(("args", "names"), [
    (["--since", "99999999d"], "--since"),
    (["--until", "99999999d"], "--until"),
    (["--since", "0001-01-01T00:00:00+05:00"], "--since"),  # before the year 1 in UTC
    (["--limit", "-1"], "--limit"),
    (["--limit", "0"], "--limit"),
    (["--limit", "99999999999999999999"], "--limit"),
    (["--limit", "ten"], "--limit"),
    (["--bogus"], "--bogus"),
])
def test_a_bad_audit_option_is_one_line_naming_it_and_exit_2(
        db_url: str, tmp_path: Path, args: list[str], names: str) -> None:
    line = _one_line(_run(["audit", *args], tmp_path, DATABASE_URL=db_url), 2)
    assert names in line and args[-1] in line
    assert "--help" in line  # where the accepted forms are


def test_the_bounds_of_audit_options_still_answer(db_url: str, tmp_path: Path) -> None:
    result = _run(["audit", "--since", "3650d", "--limit", "1000000"], tmp_path,
                  DATABASE_URL=db_url)
    assert (result.returncode, result.stdout, result.stderr) == (0, "no audit events match\n",
                                                                 "")


@pytest.mark.parametrize("fields", [{"limit": -1}, {"limit": 0}, {"limit": 2**64},
                                    {"offset": -1}, {"offset": 2**64}])
def test_the_store_is_never_handed_an_out_of_range_limit_or_offset(
        fields: dict[str, int]) -> None:
    # A negative LIMIT is "no limit" to SQLite and an SQL error to PostgreSQL; a huge one
    # overflows the driver: the query refuses both, whoever builds it.
    with pytest.raises(ValueError, match="must be between"):
        AuditQuery(**fields)  # type: ignore[arg-type]


# ---- serve ---------------------------------------------------------------------------------

@pytest.fixture
def slack() -> Iterator[FakeSlackServer]:
    with FakeSlackServer() as server:
        yield server


def _serve_env(tmp_path: Path, slack: FakeSlackServer, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "SLACK_BOT_TOKEN": SANDBOX_TOKEN,
            "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL": slack.api_url,
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "PORT": str(free_port()), **extra}


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_serve_on_a_port_that_cannot_be_is_one_line_and_exit_2(
        tmp_path: Path, slack: FakeSlackServer, port: str) -> None:
    line = _one_line(_run(["serve", "--port", port], tmp_path, **_serve_env(tmp_path, slack)),
                     2)
    assert "--port" in line and f"invalid port '{port}'" in line and "65535" in line
    assert not (tmp_path / "bot.db").exists()  # refused before anything was touched


def test_an_app_token_slack_refuses_is_one_line_naming_it_and_exit_2(
        tmp_path: Path, slack: FakeSlackServer) -> None:
    slack.slack.socket_mode_url = "ws://127.0.0.1:9/link"  # never reached: the token is wrong
    result = _run(["serve"], tmp_path,
                  **_serve_env(tmp_path, slack, SLACK_APP_TOKEN="xapp-1-not-this-app"))
    line = _one_line(result, 2)
    assert "SLACK_APP_TOKEN" in line and "invalid_auth" in line
    assert "xapp-1-not-this-app" not in line
    # Slack was asked once, by the start-up check: the Socket Mode client never started.
    assert len(slack.slack.calls("apps.connections.open")) == 1


def test_an_app_token_of_the_wrong_shape_is_refused_before_slack_is_asked(
        tmp_path: Path, slack: FakeSlackServer) -> None:
    result = _run(["serve"], tmp_path, **_serve_env(tmp_path, slack, SLACK_APP_TOKEN=SANDBOX_TOKEN))
    line = _one_line(result, 2)
    assert "SLACK_APP_TOKEN" in line and "xapp-" in line and SANDBOX_TOKEN not in line
    assert slack.slack.calls("auth.test") == []


def test_no_slack_for_the_app_token_is_one_line_and_exit_1(
        tmp_path: Path, slack: FakeSlackServer) -> None:
    slack.slack.fail_next("apps.connections.open", "internal_error")
    result = _run(["serve"], tmp_path, **_serve_env(tmp_path, slack, SLACK_APP_TOKEN=APP_TOKEN))
    line = _one_line(result, 1)
    assert "apps.connections.open" in line and "internal_error" in line


@pytest.mark.parametrize("value", ["not-a-guid", f"{SUBSCRIPTION},prod"])
@pytest.mark.parametrize("command", ["serve", "doctor"])
def test_a_subscription_id_that_is_not_a_guid_is_one_line_and_exit_2(
        tmp_path: Path, slack: FakeSlackServer, value: str, command: str) -> None:
    result = _run([command], tmp_path,
                  **_serve_env(tmp_path, slack, AZURE_SUBSCRIPTION_ID=value))
    line = _one_line(result, 2)
    assert "AZURE_SUBSCRIPTION_ID" in line and value in line and "GUID" in line


# ---- doctor --------------------------------------------------------------------------------

@pytest.mark.parametrize(("identity", "says"), [
    ({}, "None is set up (EnvironmentCredential: Environment variables are not fully "
         "configured; "),
    ({"IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi/token", "IMDS_ENDPOINT": "http://127.0.0.1:9"},
     "ManagedIdentityCredential: "),
], ids=["no credential", "managed identity unreachable"])
def test_doctors_azure_failure_is_one_line_and_nothing_on_stderr(
        tmp_path: Path, slack: FakeSlackServer, identity: dict[str, str], says: str) -> None:
    # No Azure CLI on PATH. DefaultAzureCredential says what it tried in a dozen lines, links
    # included, and logs them again as a warning.
    env = _serve_env(tmp_path, slack, PATH=str(Path(sys.executable).parent), **identity)
    assert _run(["db", "upgrade"], tmp_path, **env).returncode == 0
    result = _run(["doctor"], tmp_path, **env)

    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    azure = [line for line in lines if f"azure {SUBSCRIPTION}" in line]
    assert len(azure) == 1, lines
    assert azure[0].startswith(f"FAIL  azure {SUBSCRIPTION}: cannot list hubs "
                               "(ClientAuthenticationError): Could not get a token from Azure "
                               "AD: DefaultAzureCredential failed to retrieve a token")
    assert says in azure[0]
    assert "aka.ms" not in azure[0] and "Attempted credentials" not in azure[0]  # no guides
    assert len(lines) == sum(line[:4] in ("PASS", "WARN", "FAIL") for line in lines) + 1
    assert lines[-1].startswith("doctor: ")


# ---- the sandbox ---------------------------------------------------------------------------

@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize(("offset", "names"), [(0, "web console"), (-1, "bot's HTTP server")])
def test_the_sandbox_on_a_taken_port_is_one_line_and_exit_2(
        tmp_path: Path, taken: int, offset: int, names: str) -> None:
    result = _run(["sandbox", "--port", str(taken + offset), "--no-browser"], tmp_path)
    line = _one_line(result, 2)
    assert names in line and f"127.0.0.1:{taken}" in line and "--port" in line


@pytest.mark.parametrize(("args", "names"), [(["--port", "65535"], "--port"),
                                             (["--port", "70000"], "--port"),
                                             (["--speed", "0"], "--speed"),
                                             (["--speed", "nan"], "--speed")])
def test_a_bad_sandbox_option_is_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                                      names: str) -> None:
    line = _one_line(_run(["sandbox", *args, "--no-browser"], tmp_path), 2)
    assert names in line and args[1] in line
