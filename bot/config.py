"""All settings, from environment variables (and an optional ``.env`` file).

Built once in ``main()``; a bad value stops start-up with one line naming the variable.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.domain.durations import parse_duration
from bot.domain.policy import AccessPolicy
from bot.domain.rules import Limits, QuotaWindow
from bot.domain.verification import VerifyRules
from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///failover-bot.db"
# The databases the bot is tested on, and the Python module each one needs.
_DRIVERS = {"sqlite": "sqlite3", "sqlite+pysqlite": "sqlite3",
            "postgresql": "psycopg", "postgres": "psycopg", "postgresql+psycopg": "psycopg"}
ACCEPTED_DATABASES = "sqlite:///path/to/file.db or postgresql+psycopg://user@host/database"


_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


class AzureCloud(StrEnum):
    PUBLIC = "AzureCloud"
    CHINA = "AzureChinaCloud"
    US_GOVERNMENT = "AzureUSGovernment"


CommaList = Annotated[tuple[str, ...], NoDecode]
Duration = Annotated[timedelta, NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    azure_subscription_id: CommaList = ()
    azure_cloud: AzureCloud = AzureCloud.PUBLIC
    port: int = Field(default=3000, ge=1, le=65535)

    bot_approvers: CommaList = ()
    bot_requesters: CommaList = ()
    bot_allowed_channels: CommaList = ()
    bot_require_approval: bool = True
    bot_request_ttl: Duration = timedelta(minutes=30)
    bot_poll_interval: Duration = timedelta(seconds=30)
    bot_failback_cooldown: Duration = timedelta(hours=1)
    bot_daily_failover_limit: int = Field(default=2, ge=0)
    bot_daily_failback_limit: int = Field(default=2, ge=0)
    bot_quota_window: QuotaWindow = QuotaWindow.ROLLING_24H
    bot_audit_channel: str | None = None
    bot_hub_cache_ttl: Duration = timedelta(minutes=5)
    # How long a hub's Activity Log answer is reused (0: read it every time).
    bot_activity_log_ttl: Duration = timedelta(seconds=60)
    # The longest one read from Azure may take that a person waits for (a hub, the hub list,
    # a hub's Activity Log), every page and request included.
    bot_azure_read_deadline: Duration = timedelta(seconds=5)
    bot_lease_ttl: Duration = timedelta(seconds=15)
    bot_poll_workers: int = Field(default=16, ge=1, le=256)
    # The work process's job loop beats every second; silent this long, it is "unresponsive"
    # and /readyz says 503. Through 2,000 acked commands at load 8 on 2 cores its longest
    # silence was 1.2 s: ten seconds is no false alarm, and within one readiness probe period.
    bot_work_unresponsive_after: Duration = timedelta(seconds=10)
    # Regional batches: failover POSTs a minute, all batches together (ARM's write limits).
    bot_batch_max_starts_per_minute: int = Field(default=30, ge=1, le=1200)
    # Verification after a move (issue #22): how long to watch Azure Monitor's minutes (0:
    # off), the thresholds against the hour before, and how late Azure's minutes fill in.
    bot_verify_window: Duration = timedelta(minutes=15)
    bot_verify_devices_pct: float = Field(default=95.0, gt=0, le=1000)
    bot_verify_telemetry_pct: float = Field(default=90.0, gt=0, le=1000)
    bot_verify_metrics_delay: Duration = timedelta(minutes=3)
    # ARM reads a second this process may spend on verification's metric reads (ARM's own
    # budget is 25 a second per subscription and identity, shared with everything else).
    bot_verify_reads_per_second: float = Field(default=10.0, gt=0, le=25)
    # Hubs that may be drilled besides those tagged failover-bot-drill = allowed (issue #23).
    bot_drill_hubs: CommaList = ()
    bot_log_level: str = "INFO"

    @field_validator(
        "azure_subscription_id", "bot_approvers", "bot_requesters", "bot_allowed_channels",
        "bot_drill_hubs", mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator(
        "bot_request_ttl", "bot_poll_interval", "bot_failback_cooldown", "bot_hub_cache_ttl",
        "bot_lease_ttl", "bot_activity_log_ttl", "bot_azure_read_deadline",
        "bot_work_unresponsive_after", "bot_verify_window", "bot_verify_metrics_delay",
        mode="before",
    )
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        if isinstance(value, int | float):
            return timedelta(seconds=value)
        return value

    @field_validator("bot_poll_interval", "bot_request_ttl", "bot_lease_ttl",
                     "bot_azure_read_deadline", "bot_work_unresponsive_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("bot_verify_window")
    @classmethod
    def _two_whole_minutes(cls, value: timedelta) -> timedelta:
        if timedelta(0) < value < timedelta(minutes=2):
            raise ValueError("must hold two whole minutes (at least 2m), or be 0 to turn "
                             "verification off")
        if value < timedelta(0):
            raise ValueError("cannot be negative")
        return value

    @field_validator("bot_verify_metrics_delay")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0) or value > timedelta(hours=1):
            raise ValueError("must be between 0 and 1h")
        return value

    @field_validator("azure_subscription_id")
    @classmethod
    def _subscription_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not all(_GUID.fullmatch(item) for item in value):  # load_settings quotes the value
            raise ValueError("must be subscription ids, GUIDs like "
                             "91d12660-3dec-467a-be2a-213b5544ddc0 (several: comma-separated)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_level_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be the app-level token (xapp-…) of the app's Socket Mode "
                             "settings; unset it to serve over HTTP")
        return value

    @field_validator("bot_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, value: SecretStr) -> SecretStr:
        check_database_url(value.get_secret_value())
        return value

    @property
    def limits(self) -> Limits:
        return Limits(
            failovers_per_day=self.bot_daily_failover_limit,
            failbacks_per_day=self.bot_daily_failback_limit,
            failback_cooldown=self.bot_failback_cooldown,
            window=self.bot_quota_window,
        )

    @property
    def verify_rules(self) -> VerifyRules | None:
        """The verification rules, or None when ``BOT_VERIFY_WINDOW`` is 0 (off)."""
        if not self.bot_verify_window:
            return None
        return VerifyRules(window=self.bot_verify_window,
                           devices_pct=self.bot_verify_devices_pct,
                           telemetry_pct=self.bot_verify_telemetry_pct,
                           metrics_delay=self.bot_verify_metrics_delay)

    @property
    def access(self) -> AccessPolicy:
        return AccessPolicy(
            requesters=frozenset(self.bot_requesters),
            approvers=frozenset(self.bot_approvers),
            channels=frozenset(self.bot_allowed_channels),
            require_approval=self.bot_require_approval,
        )

    @property
    def signing_secret(self) -> str:
        """Slack's signing secret, empty when not set (Socket Mode needs none)."""
        secret = self.slack_signing_secret
        return secret.get_secret_value() if secret is not None else ""

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


def check_database_url(url: str) -> str:
    """``url`` if the bot can use it, else ValueError saying what is accepted (never the URL:
    it may hold a password)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"not a database URL; use {ACCEPTED_DATABASES}") from None
    module = _DRIVERS.get(parsed.drivername)
    if module is None:
        raise ValueError(f"{parsed.drivername!r} databases are not supported; "
                         f"use {ACCEPTED_DATABASES}")
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"the {parsed.drivername} driver ({module}) is not installed")
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" \
            and not path.startswith("file:"):
        folder = Path(path).absolute().parent
        if not folder.is_dir():
            # Creating it would hide a typo, or a volume that is not mounted.
            raise ValueError(f"the SQLite file's folder {folder} does not exist")
    return url


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise ConfigError with one readable line on a bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        if isinstance(value, str) and (_secret(variable) or _SECRET_SHAPE.search(value)):
            message = message.replace(repr(value), "(value hidden)")
        elif isinstance(value, str) and repr(value) not in message:
            # Duration errors already quote the value: say it once.
            message += f" (got {value!r})"
        raise ConfigError(f"{variable}: {message}") from None


# A Slack token or a URL with a password, even when pasted into the wrong variable.
_SECRET_SHAPE = re.compile(r"xox[a-z]-|xapp-|://[^/\s:@]+:[^/\s@]+@")


def _secret(variable: str) -> bool:
    return any(word in variable for word in ("TOKEN", "SECRET", "DATABASE_URL"))
