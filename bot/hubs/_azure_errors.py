"""Translate what azure-core raises into the gateway's errors, keeping Azure's own words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from bot.hubs.gateway import (
    Forbidden,
    GatewayError,
    HubNotFound,
    LimitReached,
    OperationConflict,
    Throttled,
    TransientError,
)

# AuthorizationFailed: "... does not have authorization to perform action
# 'Microsoft.Devices/IotHubs/failover/action' over scope ..."
_MISSING_ACTION = re.compile(r"perform action '([^']+)'")


def retry_after_seconds(headers: Mapping[str, str] | None, now: datetime) -> float | None:
    """Azure's ``Retry-After`` (seconds or an HTTP date) as seconds from ``now``."""
    if not headers:
        return None
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())


def _is_limit_message(message: str) -> bool:
    text = message.lower()
    return ("limit" in text or "quota" in text
            or ("failover" in text and "allowed" in text)
            or ("failback" in text and "allowed" in text))


def from_http_error(err: HttpResponseError, now: datetime) -> GatewayError:
    """The gateway error for an HTTP error answer from ARM."""
    status = err.status_code or 0
    code = err.error.code if err.error and err.error.code else None
    message = (err.error.message if err.error and err.error.message else None) or err.reason \
        or f"Azure answered HTTP {status}"
    headers = getattr(err.response, "headers", None)
    retry_after = retry_after_seconds(headers, now)
    if isinstance(err, ResourceNotFoundError) or status == 404:
        return HubNotFound(message, code=code or "ResourceNotFound")
    if isinstance(err, ResourceExistsError) or status == 409:
        return OperationConflict(message, code=code or "Conflict")
    if status == 429:
        return Throttled(message, code=code or "TooManyRequests", retry_after=retry_after)
    if status in (401, 403):
        found = _MISSING_ACTION.search(message)
        return Forbidden(message, code=code or "AuthorizationFailed",
                         permission=found.group(1) if found else None)
    if status == 400 and _is_limit_message(message):
        return LimitReached(message, code=code)
    if status >= 500 or status == 408:
        return TransientError(message, code=code or f"HTTP{status}", retry_after=retry_after)
    return GatewayError(message, code=code or f"HTTP{status}")


def from_azure_error(err: AzureError, now: datetime) -> GatewayError:
    """The gateway error for anything azure-core raised."""
    if isinstance(err, HttpResponseError) and err.status_code:
        return from_http_error(err, now)
    if isinstance(err, ClientAuthenticationError):
        # No HTTP answer to judge by (CredentialUnavailableError, the token endpoint out of
        # reach): like a network error, worth trying again. A token endpoint that answered
        # 5xx is transient too and a 4xx (a wrong secret) final, both through the status.
        return TransientError(f"Could not get a token from Azure AD: {err.message}",
                              code=type(err).__name__)
    return TransientError(f"Azure could not be reached: {err.message}",
                          code=type(err).__name__)
