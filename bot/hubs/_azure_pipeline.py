"""The one place that reaches inside a generated ARM client (its contract tests:
``tests/integration/hubs/test_azure_contract.py``; for the Stream Analytics client,
``tests/integration/hubs/test_azure_consumers.py``, which follows its operations through it).

An operation URL from Azure (``Azure-AsyncOperation`` or ``Location``) is read through the
client's own pipeline: authenticated for its cloud, with its policies and options (no retry
sleeps). The multi-API ``IotHubClient`` (azure-mgmt-iothub 4.x, bounded ``<5`` in pyproject)
and ``StreamAnalyticsManagementClient`` (azure-mgmt-streamanalytics 1.x, bounded ``<2``)
expose no ``send_request`` of their own; their ``_client`` attribute, an azure-core
``ARMPipelineClient``, does, publicly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core import PipelineClient
from azure.core.rest import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from azure.mgmt.iothub import IotHubClient
    from azure.mgmt.streamanalytics import StreamAnalyticsManagementClient

PIPELINE_ATTRIBUTE = "_client"  # the clients' private name this module relies on


def send_through(client: IotHubClient | StreamAnalyticsManagementClient, request: HttpRequest,
                 **options: Any) -> HttpResponse:
    """Send ``request`` through ``client``'s pipeline; ``options`` go to each policy (as
    for any generated operation: ``retry_total``, ``connection_timeout``, …)."""
    pipeline: PipelineClient[Any, Any] = getattr(client, PIPELINE_ATTRIBUTE)
    return pipeline.send_request(request, **options)
