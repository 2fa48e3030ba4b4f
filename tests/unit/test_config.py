"""Settings come from the environment; a bad value stops start-up with one line naming it."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, AzureCloud, ConfigError, Settings, load_settings
from bot.domain.policy import Actor
from bot.domain.rules import QuotaWindow

BOT_TOKEN = "xoxb-1111-2222-SuperSecretBotToken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A111-222-SuperSecretAppToken"
DB_PASSWORD = "hunter2-correct-horse"
DATABASE_URL = f"postgresql+psycopg://bot:{DB_PASSWORD}@db.internal:5432/failover"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, DB_PASSWORD)
SUB_A, SUB_B, SUB_C = ("91d12660-3dec-467a-be2a-213b5544ddc0",
                       "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D",
                       "00000000-0000-0000-0000-000000000001")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable or ``.env`` file from the machine running the tests may leak in."""
    monkeypatch.chdir(tmp_path)
    names = {name.upper() for name in Settings.model_fields}
    for variable in list(os.environ):
        if variable.upper() in names:
            monkeypatch.delenv(variable)


def config_error(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    settings = load_settings()
    assert settings.slack_bot_token is None
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url.get_secret_value() == DEFAULT_DATABASE_URL
    assert settings.azure_subscription_id == ()
    assert settings.azure_cloud is AzureCloud.PUBLIC
    assert settings.port == 3000
    assert settings.bot_require_approval is True
    assert settings.bot_request_ttl == timedelta(minutes=30)
    assert settings.bot_poll_interval == timedelta(seconds=30)
    assert settings.bot_failback_cooldown == timedelta(hours=1)
    assert settings.bot_audit_channel is None
    assert settings.socket_mode is False
    limits = settings.limits
    assert (limits.failovers_per_day, limits.failbacks_per_day) == (2, 2)
    assert limits.failback_cooldown == timedelta(hours=1)
    assert limits.window is QuotaWindow.ROLLING_24H
    access = settings.access
    assert access.requesters == access.approvers == access.channels == frozenset()
    assert access.require_approval is True


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", f"{SUB_A}, {SUB_B},,{SUB_C} ")
    monkeypatch.setenv("BOT_APPROVERS", "U0BOB,S0ONCALL")
    monkeypatch.setenv("BOT_REQUESTERS", "U0ALICE")
    monkeypatch.setenv("BOT_ALLOWED_CHANNELS", " C0INCIDENT ")
    settings = load_settings()
    assert settings.azure_subscription_id == (SUB_A, SUB_B, SUB_C)
    access = settings.access
    assert access.approvers == {"U0BOB", "S0ONCALL"}
    assert access.group_ids == {"S0ONCALL"}
    assert access.check_requester(Actor("U0ALICE"), "C0INCIDENT") is None
    assert access.check_requester(Actor("U0ALICE"), "C0RANDOM") is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("45", timedelta(seconds=45)), ("45s", timedelta(seconds=45)),
     ("2m", timedelta(minutes=2)), ("1h30m", timedelta(minutes=90))],
)
def test_durations_in_seconds_or_with_units(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv("BOT_POLL_INTERVAL", value)
    monkeypatch.setenv("BOT_FAILBACK_COOLDOWN", value)
    settings = load_settings()
    assert settings.bot_poll_interval == expected
    assert settings.limits.failback_cooldown == expected


def test_a_bad_duration_names_the_variable_and_quotes_the_value_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, "BOT_POLL_INTERVAL", "abc")
    assert message.startswith("BOT_POLL_INTERVAL: ")
    assert message.count("abc") == 1
    assert "30m" in message


def test_an_absurd_duration_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "BOT_REQUEST_TTL", "99999999999d")
    assert message.startswith("BOT_REQUEST_TTL: ")


def test_a_zero_poll_interval_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "BOT_POLL_INTERVAL", "0")
    assert message == "BOT_POLL_INTERVAL: must be longer than zero (got '0')"


def test_a_bad_azure_cloud_lists_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "AZURE_CLOUD", "AzureMars")
    assert message.startswith("AZURE_CLOUD: ")
    assert "AzureUSGovernment" in message
    assert "'AzureMars'" in message


@pytest.mark.parametrize("cloud", list(AzureCloud))
def test_every_azure_cloud_is_accepted(monkeypatch: pytest.MonkeyPatch,
                                       cloud: AzureCloud) -> None:
    monkeypatch.setenv("AZURE_CLOUD", cloud.value)
    assert load_settings().azure_cloud is cloud


def test_the_utc_day_quota_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_QUOTA_WINDOW", "utc-day")
    assert load_settings().limits.window is QuotaWindow.UTC_DAY


def test_a_bad_quota_window_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "BOT_QUOTA_WINDOW", "weekly")
    assert message.startswith("BOT_QUOTA_WINDOW: ")
    assert "rolling-24h" in message


@pytest.mark.parametrize("port", ["http", "0", "65536", "-1"])
def test_a_bad_port_is_refused(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    assert config_error(monkeypatch, "PORT", port).startswith("PORT: ")


def test_the_port_and_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("BOT_DAILY_FAILOVER_LIMIT", "1")
    monkeypatch.setenv("BOT_DAILY_FAILBACK_LIMIT", "0")
    settings = load_settings()
    assert settings.port == 8080
    assert (settings.limits.failovers_per_day, settings.limits.failbacks_per_day) == (1, 0)


def test_approval_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_REQUIRE_APPROVAL", "false")
    settings = load_settings()
    assert settings.bot_require_approval is False
    assert settings.access.require_approval is False


def test_a_bad_boolean_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "BOT_REQUIRE_APPROVAL", "perhaps")
    assert message.startswith("BOT_REQUIRE_APPROVAL: ")


def test_the_slack_api_url_gets_a_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:8089/api")
    assert load_settings().slack_api_url == "http://127.0.0.1:8089/api/"


@pytest.mark.parametrize("value", ["not-a-guid", f"{SUB_A},sub-b", SUB_A[:-1],
                                   f"{{{SUB_A}}}"])
def test_a_subscription_id_that_is_not_a_guid_is_refused(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = config_error(monkeypatch, "AZURE_SUBSCRIPTION_ID", value)
    assert message.startswith("AZURE_SUBSCRIPTION_ID: must be subscription ids, GUIDs like ")
    assert message.endswith(f"(got {value!r})")


def test_a_secret_pasted_as_a_subscription_id_is_not_quoted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "AZURE_SUBSCRIPTION_ID", f"{SUB_A},{BOT_TOKEN}")
    assert message.startswith("AZURE_SUBSCRIPTION_ID: ") and BOT_TOKEN not in message


@pytest.mark.parametrize("value", [BOT_TOKEN, "A111-222-SuperSecretAppToken"])
def test_an_app_token_that_is_not_app_level_is_refused_unquoted(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = config_error(monkeypatch, "SLACK_APP_TOKEN", value)
    assert message.startswith("SLACK_APP_TOKEN: must be the app-level token (xapp-")
    assert value not in message


def test_an_app_token_selects_socket_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    assert load_settings().socket_mode is True


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_POLL_INTERVAL=5m\nUNRELATED=1\n")
    assert load_settings().bot_poll_interval == timedelta(minutes=5)


def test_the_environment_wins_over_the_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("BOT_POLL_INTERVAL=5m\n")
    monkeypatch.setenv("BOT_POLL_INTERVAL", "10s")
    assert load_settings().bot_poll_interval == timedelta(seconds=10)


# --- secrets --------------------------------------------------------------------------------

def set_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)


def test_secrets_are_read_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    set_secrets(monkeypatch)
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == BOT_TOKEN
    assert settings.database_url.get_secret_value() == DATABASE_URL
    for shown in (repr(settings), str(settings), repr(settings.model_dump()),
                  settings.model_dump_json()):
        for secret in SECRETS:
            assert secret not in shown


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SLACK_API_URL", BOT_TOKEN), ("PORT", APP_TOKEN), ("BOT_POLL_INTERVAL", DATABASE_URL),
     ("AZURE_CLOUD", f"https://user:{DB_PASSWORD}@example.com")],
)
def test_a_secret_in_the_wrong_variable_is_not_quoted(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    set_secrets(monkeypatch)
    message = config_error(monkeypatch, variable, value)
    assert message.startswith(f"{variable}: ")
    for secret in (*SECRETS, value):
        assert secret not in message


def test_an_error_among_secrets_quotes_only_the_bad_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_secrets(monkeypatch)
    message = config_error(monkeypatch, "PORT", "http")
    assert message.endswith("(got 'http')")
    for secret in SECRETS:
        assert secret not in message


@pytest.mark.parametrize("variable", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"])
def test_a_bad_secret_is_named_but_not_quoted(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # A non-string value reaches the validators only through overrides (e.g. tests, the CLI).
    with pytest.raises(ConfigError) as caught:
        load_settings(**{variable.lower(): ["xoxb-leaked", DB_PASSWORD]})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert "xoxb-leaked" not in message
    assert DB_PASSWORD not in message


@pytest.mark.parametrize(("url", "says"), [
    ("garbage", "not a database URL"),
    (f"mysql://bot:{DB_PASSWORD}@db.internal/bot", "'mysql' databases are not supported"),
    (f"postgresql+asyncpg://bot:{DB_PASSWORD}@db.internal/bot", "not supported"),
    ("sqlite:///no-such-folder/bot.db", "folder"),
])
def test_an_unusable_database_url_names_the_variable_and_what_is_accepted(
        monkeypatch: pytest.MonkeyPatch, url: str, says: str) -> None:
    message = config_error(monkeypatch, "DATABASE_URL", url)
    assert message.startswith("DATABASE_URL: ") and says in message
    assert DB_PASSWORD not in message


@pytest.mark.parametrize("url", [
    DATABASE_URL, "postgresql://bot@db/bot", "postgres://bot@db/bot", "sqlite:///bot.db",
    "sqlite://", "sqlite:///:memory:",
])
def test_sqlite_and_postgresql_urls_are_accepted(monkeypatch: pytest.MonkeyPatch,
                                                 url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().database_url.get_secret_value() == url


def test_the_activity_log_cache_lasts_a_minute_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().bot_activity_log_ttl == timedelta(seconds=60)
    monkeypatch.setenv("BOT_ACTIVITY_LOG_TTL", "0")
    assert load_settings().bot_activity_log_ttl == timedelta(0)
    monkeypatch.setenv("BOT_ACTIVITY_LOG_TTL", "soon")
    with pytest.raises(ConfigError, match="BOT_ACTIVITY_LOG_TTL"):
        load_settings()


def test_an_azure_read_waits_five_seconds_unless_told_and_never_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().bot_azure_read_deadline == timedelta(seconds=5)
    monkeypatch.setenv("BOT_AZURE_READ_DEADLINE", "12s")
    assert load_settings().bot_azure_read_deadline == timedelta(seconds=12)
    message = config_error(monkeypatch, "BOT_AZURE_READ_DEADLINE", "0")
    assert message == "BOT_AZURE_READ_DEADLINE: must be longer than zero (got '0')"


def test_the_work_process_is_unresponsive_after_ten_seconds_of_silence_or_as_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().bot_work_unresponsive_after == timedelta(seconds=10)
    monkeypatch.setenv("BOT_WORK_UNRESPONSIVE_AFTER", "30s")
    assert load_settings().bot_work_unresponsive_after == timedelta(seconds=30)
    message = config_error(monkeypatch, "BOT_WORK_UNRESPONSIVE_AFTER", "0")
    assert message == "BOT_WORK_UNRESPONSIVE_AFTER: must be longer than zero (got '0')"
