"""The drill's Azure: the real gateway and SDK, with only the wire diverted to the fake ARM.
The work process of ``tests.drills.bot_process`` builds its gateway here.

Everything is the production runtime except where Azure lives: the real
``AzureIotHubGateway`` and its SDK clients (``azure.mgmt.iothub``; ``azure.mgmt.monitor`` for
the Activity Log and the metrics; ``azure.mgmt.web`` and ``azure.mgmt.streamanalytics`` for
the consumers) address ``https://management.azure.com`` as always, and only the wire (one
transport, handed to every client) is diverted to the fake ARM at
``DRILL_ARM_URL`` (plain HTTP on 127.0.0.1). Diverting below the SDK rather than giving the
client the fake's URL keeps two production checks in force: azure-core's bearer-token policy
refuses non-https URLs, and the gateway refuses to poll an operation handle that is not an ARM
URL. Settings come from the environment, as in production (see ``bot/config.py``).

With ``DRILL_AAD=1`` the bot authenticates as in production too: azure-identity's
``ClientSecretCredential`` asks ``https://login.microsoftonline.com`` for its tokens, and that
wire is diverted to the fake Azure AD at ``DRILL_ARM_URL/aad``. Without it, a static token.
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import ClientSecretCredential
from azure.mgmt.iothub import IotHubClient
from azure.mgmt.monitor import MonitorManagementClient
from requests.adapters import HTTPAdapter

from bot.config import Settings
from bot.domain.clock import Clock
from bot.domain.consumers import ConsumerKind
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.gateway import IotHubGateway

ARM_URL_VARIABLE = "DRILL_ARM_URL"
AAD_VARIABLE = "DRILL_AAD"
PUBLIC_ARM = "https://management.azure.com"
PUBLIC_AAD = "https://login.microsoftonline.com"


class StaticToken:
    """A TokenCredential with one made-up token (the fake ARM only checks there is one)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("drill-token", int(time.time()) + 3600)


class ToFakeArm(HTTPAdapter):
    """Sends what is addressed to ARM (or to ``public``) to the fake; the SDK never sees the
    difference."""

    def __init__(self, target: str, public: str = PUBLIC_ARM) -> None:
        super().__init__()
        self._target = target.rstrip("/")
        self._public = public

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        local = request.copy()
        local.url = self._target + (request.url or "").removeprefix(self._public)
        return super().send(local, *args, **kwargs)


def diverted_session() -> requests.Session:
    """ARM and Azure AD over plain HTTP to the drill's fakes."""
    fake = os.environ[ARM_URL_VARIABLE].rstrip("/")
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between the bot and 127.0.0.1
    session.mount(PUBLIC_ARM + "/", ToFakeArm(fake))
    session.mount(PUBLIC_AAD + "/", ToFakeArm(fake + "/aad", PUBLIC_AAD))
    return session


def drill_credential(session: requests.Session) -> TokenCredential:
    if os.environ.get(AAD_VARIABLE) != "1":
        return StaticToken()
    # Made-up tenant, client and secret: the fake Azure AD only checks the route. Its own
    # retries off (retry_total=0), so every 500 reaches the bot as azure-identity raises it.
    return ClientSecretCredential(
        "drill-tenant", "drill-client", "drill-secret", authority=PUBLIC_AAD,
        disable_instance_discovery=True, retry_total=0,
        transport=RequestsTransport(session=session, session_owner=False))


def fake_arm_gateway(settings: Settings, clock: Clock) -> IotHubGateway:
    """A ``serve(gateway_factory=…)``, named to the work process, which builds its own."""
    session = diverted_session()
    transport = RequestsTransport(session=session, session_owner=False)
    credential = drill_credential(session)

    def client(subscription_id: str) -> IotHubClient:
        return IotHubClient(credential, subscription_id, base_url=PUBLIC_ARM,
                            credential_scopes=[f"{PUBLIC_ARM}/.default"], transport=transport)

    def monitor(subscription_id: str) -> MonitorManagementClient:  # Activity Log, metrics
        return MonitorManagementClient(credential, subscription_id, base_url=PUBLIC_ARM,
                                       credential_scopes=[f"{PUBLIC_ARM}/.default"],
                                       transport=transport)

    def consumers(kind: ConsumerKind, subscription_id: str) -> Any:
        # Imported here, as the product does: only a process that restarts consumers needs them.
        from azure.mgmt.streamanalytics import StreamAnalyticsManagementClient
        from azure.mgmt.web import WebSiteManagementClient

        sdk = (WebSiteManagementClient if kind is ConsumerKind.FUNCTION_APP
               else StreamAnalyticsManagementClient)
        return sdk(credential, subscription_id, base_url=PUBLIC_ARM,
                   credential_scopes=[f"{PUBLIC_ARM}/.default"], transport=transport)

    return AzureIotHubGateway(credential, settings.azure_subscription_id,
                              cloud=settings.azure_cloud.value,
                              cache_ttl=settings.bot_hub_cache_ttl, clock=clock,
                              client_factory=client, monitor_factory=monitor,
                              consumer_factory=consumers,
                              request_timeout=10.0,
                              read_deadline=settings.bot_azure_read_deadline.total_seconds())
