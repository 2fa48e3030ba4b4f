"""The one place that reaches inside azure-mgmt-iothub's client (its contract test:
``tests/integration/hubs/test_azure_contract.py``).

An operation URL from Azure (``Azure-AsyncOperation`` or ``Location``) is read through the
IoT Hub client's own pipeline: authenticated for its cloud, with its policies and options
(no retry sleeps). The multi-API ``IotHubClient`` (azure-mgmt-iothub 4.x, bounded ``<5`` in
pyproject) exposes no ``send_request`` of its own; its ``_client`` attribute, an azure-core
``ARMPipelineClient``, does, publicly.
"""

from __future__ import annotations

from typing import Any

from azure.core import PipelineClient
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.iothub import IotHubClient

PIPELINE_ATTRIBUTE = "_client"  # IotHubClient's private name this module relies on


def send_through(client: IotHubClient, request: HttpRequest, **options: Any) -> HttpResponse:
    """Send ``request`` through ``client``'s pipeline; ``options`` go to each policy (as
    for any generated operation: ``retry_total``, ``connection_timeout``, …)."""
    pipeline: PipelineClient[Any, Any] = getattr(client, PIPELINE_ATTRIBUTE)
    return pipeline.send_request(request, **options)
