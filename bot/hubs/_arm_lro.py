"""One look at an ARM long-running operation, from the caller's thread.

``LROPoller`` would start a thread per operation and sleep on the wall clock; instead the
operation is started with :class:`StartOnlyPolling` (its URL kept, nothing polled) and the
caller looks at the URL through the client's own pipeline (:func:`send_through`:
authenticated for its cloud, no retry sleeps) and waits on the injected clock between looks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat

from bot.hubs._azure_errors import retry_after_seconds
from bot.hubs._azure_mapping import operation_poll
from bot.hubs._azure_pipeline import send_through
from bot.hubs._clouds import AzureCloudEndpoints
from bot.hubs.gateway import OperationPoll, OperationState


def is_resource_manager_url(url: str, cloud: AzureCloudEndpoints) -> bool:
    """The pipeline attaches a bearer token: only the cloud's own ARM host may receive it."""
    parsed = urlparse(url)
    return parsed.scheme == "https" and parsed.hostname == cloud.resource_manager_host


def look_once(client: Any, url: str, now: datetime, **options: Any) -> OperationPoll:
    """GET ``url`` once: an ``Azure-AsyncOperation`` body (``{"status": …}``) or a
    ``Location`` answer (202 while running, 200/204 once done). An HTTP error is raised as
    azure-core raises it for a generated operation, with ARM's error body parsed."""
    response = send_through(client, HttpRequest("GET", url), **options)
    if response.status_code >= 400:
        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    retry_after = retry_after_seconds(response.headers, now)
    body = response.json() if response.text().strip() else None
    if isinstance(body, dict) and "status" in body:
        return operation_poll(body, retry_after)
    if response.status_code == 202:
        return OperationPoll(OperationState.RUNNING, retry_after=retry_after)
    return OperationPoll(OperationState.SUCCEEDED)
