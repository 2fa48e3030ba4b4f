"""What an operator sees in /metrics and the logs after a simulated failover."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.testclient import TestClient

from bot.bootstrap import bootstrap
from bot.config import Settings
from bot.domain.clock import FakeClock
from bot.domain.model import OperationKind
from bot.domain.policy import Actor
from bot.domain.request import RequestStatus
from bot.roles.single import Runtime, build_runtime
from bot.service import SubmitFailover, Submitted
from bot.slack.client import make_web_client
from bot.store.migrate import upgrade
from bot.telemetry import configure_logging
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from failover_sandbox.slack_api import SANDBOX_TOKEN, FakeSlackServer
from tests.support import SyncExecutor

HUB = "contoso-weu"
CHANNEL = "C_INCIDENT"
SIGNING_SECRET = "observability-signing-secret"




@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[Runtime, FakeClock, SimulatedIotHubGateway]]:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    with FakeSlackServer() as slack:
        slack.slack.add_channel(CHANNEL, "incident")
        settings = Settings(_env_file=None, slack_bot_token=SecretStr(SANDBOX_TOKEN),  # type: ignore[call-arg]
                            slack_signing_secret=SecretStr(SIGNING_SECRET),
                            slack_api_url=slack.api_url, database_url=SecretStr(url),
                            bot_approvers=("U_APP",))
        clock = FakeClock()
        gateway = SimulatedIotHubGateway(clock)
        gateway.add_hub(HUB, "North Europe", devices=20_000)
        components = bootstrap(settings, clock=clock, gateway=gateway)
        client = make_web_client(SANDBOX_TOKEN, slack.api_url, metrics=components.metrics)
        yield (build_runtime(components, client=client, executor=SyncExecutor()),
               clock, gateway)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_after_a_failover_and_a_refusal(runtime: tuple[Runtime, FakeClock,
                                                                SimulatedIotHubGateway]) -> None:
    bot, clock, gateway = runtime
    service = bot.components.service
    refused = service.asking.preview(Actor("U_REQ"), CHANNEL, HUB, OperationKind.FAILBACK)
    assert not hasattr(refused, "hub")  # failback on a hub at home: a refusal
    active = gateway.get_state(gateway.resolve(HUB)).active_region
    submitted = service.asking.submit(SubmitFailover(Actor("U_REQ"), CHANNEL, HUB,
                                              OperationKind.FAILOVER, HUB, "INC-1", active))
    assert isinstance(submitted, Submitted)
    request_id = submitted.request.id
    assert service.deciding.approve(Actor("U_APP"), request_id).ok
    service.starting.start(request_id)
    for _ in range(60):
        clock.advance(timedelta(minutes=1))
        bot.poller.run_once()
        if service.reading.get_request(request_id).status is RequestStatus.SUCCEEDED:  # type: ignore[union-attr]
            break

    response = TestClient(bot.web_app).get("/metrics")
    assert response.status_code == 200
    samples = _samples(response.text)
    assert samples[("failover_bot_requests_total", (("outcome", "succeeded"),))] == 1
    assert samples[("failover_bot_refusals_total", (("reason", "wrong_direction"),))] == 1
    assert samples[("failover_bot_operation_duration_seconds_count",
                    (("kind", "failover"), ("outcome", "succeeded")))] == 1
    assert samples[("failover_bot_azure_call_seconds_count",
                    (("method", "start_failover"),))] == 1
    assert samples[("failover_bot_azure_call_seconds_count", (("method", "poll"),))] >= 1
    assert samples[("failover_bot_slack_call_seconds_count",
                    (("method", "chat.postMessage"),))] >= 1
    assert samples[("failover_bot_poller_lag_seconds_count", ())] >= 1
    assert samples[("failover_bot_operations_running", ())] == 0
    assert SANDBOX_TOKEN not in response.text and SIGNING_SECRET not in response.text


def test_tokens_never_reach_the_logs(runtime: tuple[Runtime, FakeClock,
                                                    SimulatedIotHubGateway]) -> None:
    bot, _, _ = runtime
    settings = bot.components.settings
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream, secrets=(
        settings.slack_bot_token, settings.slack_signing_secret, settings.database_url))
    try:
        logging.getLogger("bot.test").warning("calling Slack with %s and %s", SANDBOX_TOKEN,
                                              SIGNING_SECRET)
        bot.components.service.reading.status(HUB)  # real code paths log too
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert output, "nothing was logged"
    for line in output.splitlines():
        json.loads(line)
    assert SANDBOX_TOKEN not in output and SIGNING_SECRET not in output
