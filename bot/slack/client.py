"""The Slack Web API client, with retries on rate limits and dropped connections."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

from bot.errors import ConfigError
from bot.telemetry import Metrics

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 30.0  # seconds; longer waits would hold a listener thread too long


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """Retries HTTP 429 after Slack's ``Retry-After`` (capped), with an injectable sleep."""

    def __init__(self, max_retry_count: int = 3, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        if response is None:
            raise error or RuntimeError("rate-limit retry without a response")
        state.next_attempt_requested = True
        header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"),
                      None)
        try:
            wait = float(header[0] if isinstance(header, list) else header or 1)
        except ValueError:
            wait = 1.0
        wait = min(max(wait, 0.0), MAX_RETRY_AFTER) + random.random() * 0.1  # noqa: S311
        log.info("Slack rate-limited %s; retrying in %.1fs", request.url.rsplit("/", 1)[-1], wait)
        self._sleep(wait)
        state.increment_current_attempt()


class MeteredWebClient(WebClient):
    """A WebClient that times every Web API call and counts Slack's errors."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        with self._metrics.slack_call(api_method):
            return super().api_call(api_method, **kwargs)


def make_web_client(token: str | None, base_url: str = "https://slack.com/api/", *,
                    sleep: Callable[[float], None] = time.sleep, timeout: int = 10,
                    metrics: Metrics | None = None) -> WebClient:
    """A WebClient for ``base_url`` (Slack, GovSlack or the sandbox) that retries politely."""
    options: dict[str, Any] = {
        "token": token, "base_url": base_url, "timeout": timeout,
        "retry_handlers": [ConnectionErrorRetryHandler(max_retry_count=2),
                           RetryAfterHandler(sleep=sleep)],
    }
    if metrics is not None:
        return MeteredWebClient(metrics=metrics, **options)
    return WebClient(**options)


class SlackUnavailable(Exception):
    """Slack's Web API could not be reached, or did not answer ``auth.test`` usefully."""


# auth.test errors that mean the token itself is wrong: the operator's configuration.
_BAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                        "token_expired", "not_allowed_token_type"})


def check_auth(client: WebClient, api_url: str) -> dict[str, Any]:
    """Call ``auth.test`` once and return its answer. A refused token is a ConfigError naming
    SLACK_BOT_TOKEN; no answer is SlackUnavailable naming SLACK_API_URL and the cause."""
    try:
        return dict(client.auth_test().data)  # type: ignore[arg-type]
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        if error in _BAD_TOKEN:
            raise ConfigError(f"SLACK_BOT_TOKEN: Slack refused the token ({error})") from None
        raise SlackUnavailable(f"Slack at SLACK_API_URL={api_url} answered auth.test with "
                               f"{error or exc.response.status_code}") from None
    except OSError as exc:  # URLError, timeouts, refused connections
        cause = getattr(exc, "reason", None) or exc
        raise SlackUnavailable(
            f"cannot reach Slack at SLACK_API_URL={api_url}: {cause}") from None


def check_app_token(client: WebClient, app_token: str, api_url: str) -> None:
    """Ask Slack for a Socket Mode URL once, with the app-level token, as the Socket Mode
    client will: a refused token is a ConfigError naming SLACK_APP_TOKEN, said before anything
    starts (the client itself would log Slack's answer and raise). The URL is not used: each
    is good for one connection, and the client asks for its own."""
    try:
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        if error in _BAD_TOKEN:
            raise ConfigError(f"SLACK_APP_TOKEN: Slack refused the app-level token ({error}); "
                              "use the xapp-… token of the app's Socket Mode settings, or "
                              "unset it to serve over HTTP") from None
        raise SlackUnavailable(f"Slack at SLACK_API_URL={api_url} answered "
                               f"apps.connections.open with "
                               f"{error or exc.response.status_code}") from None
    except OSError as exc:
        cause = getattr(exc, "reason", None) or exc
        raise SlackUnavailable(
            f"cannot reach Slack at SLACK_API_URL={api_url}: {cause}") from None
