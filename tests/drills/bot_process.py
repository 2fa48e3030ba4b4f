"""The real bot (``bot.bootstrap.serve``) in a process of its own, for drills that kill it.

    PYTHONPATH=<repo> DRILL_ARM_URL=http://127.0.0.1:<port> SLACK_BOT_TOKEN=… \\
        python -m tests.drills.bot_process --port 3000

Everything is the production runtime except where Azure lives: the real
``AzureIotHubGateway`` and ``azure.mgmt.iothub.IotHubClient`` address
``https://management.azure.com`` as always, and only the wire is diverted to the fake ARM at
``DRILL_ARM_URL`` (plain HTTP on 127.0.0.1). Diverting below the SDK rather than giving the
client the fake's URL keeps two production checks in force: azure-core's bearer-token policy
refuses non-https URLs, and the gateway refuses to poll an operation handle that is not an ARM
URL. Settings come from the environment, as in production (see ``bot/config.py``).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.iothub import IotHubClient
from requests.adapters import HTTPAdapter

from bot.config import Settings
from bot.domain.clock import Clock
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.gateway import IotHubGateway

ARM_URL_VARIABLE = "DRILL_ARM_URL"
PUBLIC_ARM = "https://management.azure.com"


class StaticToken:
    """A TokenCredential with one made-up token (the fake ARM only checks there is one)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("drill-token", int(time.time()) + 3600)


class ToFakeArm(HTTPAdapter):
    """Sends what is addressed to ARM to the fake one; the SDK never sees the difference."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self._target = target.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        local = request.copy()
        local.url = self._target + (request.url or "").removeprefix(PUBLIC_ARM)
        return super().send(local, *args, **kwargs)


def fake_arm_gateway(settings: Settings, clock: Clock) -> IotHubGateway:
    """A ``serve(gateway_factory=…)``: module-level, so a worker process can build its own."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between the bot and 127.0.0.1
    session.mount(PUBLIC_ARM + "/", ToFakeArm(os.environ[ARM_URL_VARIABLE]))
    transport = RequestsTransport(session=session, session_owner=False)
    credential = StaticToken()

    def client(subscription_id: str) -> IotHubClient:
        return IotHubClient(credential, subscription_id, base_url=PUBLIC_ARM,
                            credential_scopes=[f"{PUBLIC_ARM}/.default"], transport=transport)

    return AzureIotHubGateway(credential, settings.azure_subscription_id,
                              cloud=settings.azure_cloud.value,
                              cache_ttl=settings.bot_hub_cache_ttl, clock=clock,
                              client_factory=client, request_timeout=10.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from bot.bootstrap import serve
    from bot.config import load_settings

    # Under its importable name, not __main__'s: a worker process finds it by reference.
    from tests.drills.bot_process import fake_arm_gateway as factory

    return serve(load_settings(), port=args.port, gateway_factory=factory)


if __name__ == "__main__":
    raise SystemExit(main())
