"""``failover-bot doctor`` against the local fakes: a pass, and each kind of failure."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from azure.core.credentials import AccessToken
from pydantic import SecretStr

from bot.config import Settings
from bot.doctor import run_doctor
from bot.domain.clock import FakeClock
from bot.hubs.azure import AzureIotHubGateway
from bot.slack.client import make_web_client
from bot.store.migrate import upgrade
from failover_sandbox.slack_api import APP_TOKEN, SANDBOX_TOKEN, FakeSlackServer

FIXTURES = Path(__file__).parent / "hubs" / "fixtures"
SUBSCRIPTION = "91d12660-3dec-467a-be2a-213b5544ddc0"
LIST_URL = re.compile(
    rf"https://management\.azure\.com/subscriptions/{SUBSCRIPTION}/providers/"
    r"Microsoft\.Devices/IotHubs\?.*")
ACTIVITY_URL = re.compile(
    rf"https://management\.azure\.com/subscriptions/{SUBSCRIPTION}/providers/"
    r"Microsoft\.Insights/eventtypes/management/values\?.*")
PERMISSIONS_URL = re.compile(
    rf"https://management\.azure\.com/subscriptions/{SUBSCRIPTION}/resourceGroups/"
    r"myResourceGroup/providers/Microsoft\.Authorization/permissions\?.*", re.IGNORECASE)


class StaticCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", 4_102_444_800)


@pytest.fixture
def slack() -> Iterator[FakeSlackServer]:
    with FakeSlackServer() as server:
        yield server


@pytest.fixture
def arm() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _settings(tmp_path: Path, slack: FakeSlackServer, *, migrate: bool = True,
              token: str = SANDBOX_TOKEN) -> Settings:
    url = f"sqlite:///{tmp_path / 'doctor.db'}"
    if migrate:
        upgrade(url)
    return Settings(_env_file=None, slack_bot_token=token, slack_signing_secret="s3cret",  # type: ignore[call-arg]
                    slack_api_url=slack.api_url, database_url=url,
                    azure_subscription_id=(SUBSCRIPTION,), bot_approvers=("U_APP",))


def _doctor(settings: Settings, slack: FakeSlackServer) -> tuple[int, str]:
    out = io.StringIO()
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    code = run_doctor(
        settings, out, slack_client=make_web_client(token, slack.api_url),
        gateway_for=lambda sub: AzureIotHubGateway(StaticCredential(), [sub], clock=FakeClock()))
    return code, out.getvalue()


def _hub_list(arm: responses.RequestsMock, *, activity_status: int = 200) -> None:
    body = json.loads((FIXTURES / "iothub_listbysubscription.json").read_text())
    arm.add(responses.GET, LIST_URL, json=body["responses"]["200"]["body"])
    answer: dict[str, Any] = {"value": []} if activity_status == 200 else {"error": {
        "code": "AuthorizationFailed",
        "message": "The client 'bot' does not have authorization to perform action "
                   "'Microsoft.Insights/eventtypes/values/read' over scope '/subscriptions/x'."}}
    arm.add(responses.GET, ACTIVITY_URL, status=activity_status, json=answer)
    arm.add(responses.GET, PERMISSIONS_URL, json={"value": [{"actions": ["*"], "notActions": []}]})


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if f" {name}" in line)


def test_everything_configured_passes(tmp_path: Path, slack: FakeSlackServer,
                                      arm: responses.RequestsMock) -> None:
    _hub_list(arm)
    code, output = _doctor(_settings(tmp_path, slack), slack)
    assert code == 0, output
    assert _line(output, "slack auth").startswith("PASS")
    assert _line(output, "migrations").startswith("PASS")
    assert re.search(rf"PASS  azure {SUBSCRIPTION}: \d+ IoT hubs visible", output)
    assert _line(output, f"activity log {SUBSCRIPTION}").startswith(
        "PASS  activity log 91d12660-3dec-467a-be2a-213b5544ddc0: readable "
        "(Microsoft.Insights/eventtypes/values/Read")
    assert "FAIL" not in output


def test_no_permission_to_read_the_activity_log_fails_naming_the_permission(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _hub_list(arm, activity_status=403)
    code, output = _doctor(_settings(tmp_path, slack), slack)
    assert code == 1
    line = _line(output, f"activity log {SUBSCRIPTION}")
    assert line.startswith("FAIL") and "AuthorizationFailed" in line
    assert "grant Microsoft.Insights/eventtypes/values/Read" in line
    assert "only this bot's own operations" in line


def test_unmigrated_database_fails_and_says_what_to_run(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _hub_list(arm)
    code, output = _doctor(_settings(tmp_path, slack, migrate=False), slack)
    assert code == 1
    assert _line(output, "migrations").startswith("FAIL")
    assert "failover-bot db upgrade" in output


def test_bad_slack_token_fails_and_is_not_printed(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _hub_list(arm)
    token = "xoxb-not-the-right-one"
    code, output = _doctor(_settings(tmp_path, slack, token=token), slack)
    assert code == 1
    assert _line(output, "slack auth") == "FAIL  slack auth: auth.test failed: invalid_auth"
    assert token not in output


def test_azure_permission_problem_fails_with_azures_words(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    arm.add(responses.GET, LIST_URL, status=403, json={"error": {
        "code": "AuthorizationFailed",
        "message": "The client 'bot' does not have authorization to perform action "
                   "'Microsoft.Devices/IotHubs/read' over scope '/subscriptions/x'."}})
    code, output = _doctor(_settings(tmp_path, slack), slack)
    assert code == 1
    line = _line(output, f"azure {SUBSCRIPTION}")
    assert line.startswith("FAIL") and "AuthorizationFailed" in line
    assert "Microsoft.Devices/IotHubs/read" in line


def test_missing_settings_fail(tmp_path: Path, slack: FakeSlackServer) -> None:
    settings = _settings(tmp_path, slack).model_copy(
        update={"azure_subscription_id": (), "slack_signing_secret": None})
    code, output = _doctor(settings, slack)
    assert code == 1
    assert "FAIL  slack settings: SLACK_SIGNING_SECRET not set" in output
    assert "FAIL  azure settings: AZURE_SUBSCRIPTION_ID not set" in output


def test_a_missing_database_file_is_reported_and_not_created(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _hub_list(arm)
    code, output = _doctor(_settings(tmp_path, slack, migrate=False), slack)
    assert code == 1
    assert _line(output, "database").startswith("WARN")
    assert _line(output, "migrations").startswith(
        "FAIL  migrations: no migrations applied yet, newest is ")
    assert not (tmp_path / "doctor.db").exists()


def test_no_approvers_while_approval_is_required_is_a_warning(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _hub_list(arm)
    settings = _settings(tmp_path, slack).model_copy(update={"bot_approvers": ()})
    code, output = _doctor(settings, slack)
    assert code == 0, output
    assert _line(output, "approvers").startswith("WARN  approvers: BOT_APPROVERS is empty")
    assert "(1 with a warning)" in output.splitlines()[-1]

    no_approval = settings.model_copy(update={"bot_require_approval": False})
    assert "approvers" not in _doctor(no_approval, slack)[1]


def test_limits_looser_than_azure_are_a_warning_not_a_failure(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _hub_list(arm)
    settings = _settings(tmp_path, slack).model_copy(update={
        "bot_failback_cooldown": timedelta(minutes=5), "bot_daily_failback_limit": 3})

    code, output = _doctor(settings, slack)

    assert code == 0, output
    warnings = [line for line in output.splitlines() if "azure limits" in line]
    assert len(warnings) == 2 and all(w.startswith("WARN") for w in warnings)
    assert "BOT_FAILBACK_COOLDOWN=5m is shorter than Azure's hour" in output
    assert "BOT_DAILY_FAILBACK_LIMIT=3 is above Azure's 2 a day" in output


@pytest.mark.parametrize(("app_token", "says"), [
    (APP_TOKEN, "PASS  slack socket mode: SLACK_APP_TOKEN opens a Socket Mode connection"),
    ("xapp-1-another-app", "FAIL  slack socket mode: SLACK_APP_TOKEN: Slack refused the "
                           "app-level token (invalid_auth)"),
])
def test_socket_mode_checks_the_app_token_as_serve_will(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock, app_token: str,
        says: str) -> None:
    _hub_list(arm)
    slack.slack.socket_mode_url = "ws://127.0.0.1:9/link"
    settings = _settings(tmp_path, slack).model_copy(
        update={"slack_app_token": SecretStr(app_token)})
    code, output = _doctor(settings, slack)
    assert code == (0 if says.startswith("PASS") else 1), output
    assert _line(output, "slack socket mode").startswith(says)
    assert "xapp-1-another-app" not in output

CONSUMER_TAGS = {"failover-bot-consumers": "Microsoft.Web/sites/func-telemetry,"
                                           "Microsoft.StreamAnalytics/streamingjobs/asa-alerts",
                 "failover-bot-restart-consumers": "true"}


def _granted(arm: responses.RequestsMock, *entries: tuple[list[str], list[str]],
             tags: dict[str, str] | None = None) -> None:
    """The hub list (its hub tagged ``tags``) and what Azure says the identity may do on
    the hub's resource group (Microsoft.Authorization/permissions, one entry a role)."""
    body = json.loads((FIXTURES / "iothub_listbysubscription.json").read_text())
    listed = body["responses"]["200"]["body"]
    listed["value"][0]["tags"] = tags or {}
    arm.add(responses.GET, LIST_URL, json=listed)
    arm.add(responses.GET, ACTIVITY_URL, json={"value": []})
    arm.add(responses.GET, PERMISSIONS_URL, json={"value": [
        {"actions": actions, "notActions": not_actions, "dataActions": [],
         "notDataActions": []} for actions, not_actions in entries]})


def test_the_optional_permissions_granted_pass_naming_them(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _granted(arm, (["Microsoft.Devices/*", "Microsoft.Insights/metrics/read"], []),
             (["Microsoft.Web/sites/*", "Microsoft.StreamAnalytics/streamingjobs/*"],
              ["Microsoft.Web/sites/delete"]), tags=CONSUMER_TAGS)
    code, output = _doctor(_settings(tmp_path, slack), slack)
    line = _line(output, "permissions myResourceGroup")
    assert line.startswith("PASS") and "Microsoft.Insights/metrics/read" in line
    assert "Microsoft.Web/sites/restart/action" in line
    assert "Microsoft.StreamAnalytics/streamingjobs/stop/action" in line
    assert code == 0, output


def test_no_metrics_permission_is_a_warning_saying_what_verdicts_will_be(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    _granted(arm, (["Microsoft.Devices/IotHubs/*"], []))
    code, output = _doctor(_settings(tmp_path, slack), slack)
    line = _line(output, "permissions myResourceGroup")
    assert line.startswith("WARN") and "could not verify" in line
    assert "BOT_VERIFY_WINDOW=0" in line
    assert code == 0


def test_a_hub_that_opted_in_to_restarts_without_the_permission_fails(
        tmp_path: Path, slack: FakeSlackServer, arm: responses.RequestsMock) -> None:
    # A notAction narrows its own role only: the restart is denied by the one role that has
    # Microsoft.Web/*, and no other role grants it.
    _granted(arm, (["*/read"], []),
             (["Microsoft.Web/*", "Microsoft.StreamAnalytics/*"], ["*/restart/action"]),
             tags=CONSUMER_TAGS)
    code, output = _doctor(_settings(tmp_path, slack), slack)
    line = _line(output, "permissions myResourceGroup")
    assert line.startswith("FAIL") and "missing Microsoft.Web/sites/restart/action" in line
    assert "streamingjobs" not in line.split("missing")[1].split(":")[0]
    assert code == 1
