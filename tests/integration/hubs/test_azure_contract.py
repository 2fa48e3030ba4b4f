"""What ``bot.hubs._azure_pipeline`` relies on in azure-mgmt-iothub (bounded ``<5`` in
pyproject): the client's pipeline, private in name, and that a request sent through it is
authenticated and answered like any generated operation's."""

from __future__ import annotations

import responses
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential
from azure.core import PipelineClient
from azure.core.rest import HttpRequest
from azure.mgmt.iothub import IotHubClient

from bot.hubs._azure_pipeline import PIPELINE_ATTRIBUTE, send_through

OPERATION = "https://management.azure.com/subscriptions/s/providers/x/operations/1"


def test_the_client_still_holds_its_pipeline_under_the_private_name() -> None:
    client = IotHubClient(StaticTokenCredential(), SUBSCRIPTION)
    pipeline = getattr(client, PIPELINE_ATTRIBUTE)
    assert isinstance(pipeline, PipelineClient)
    assert callable(pipeline.send_request)


@responses.activate
def test_a_request_sent_through_it_is_authenticated_and_answered() -> None:
    responses.add(responses.GET, OPERATION, json={"status": "Running"}, status=200)
    client = IotHubClient(StaticTokenCredential(), SUBSCRIPTION)
    response = send_through(client, HttpRequest("GET", OPERATION), retry_total=0)
    assert response.status_code == 200 and response.json() == {"status": "Running"}
    sent = responses.calls[0].request
    assert str(sent.headers["Authorization"]).startswith("Bearer ")
