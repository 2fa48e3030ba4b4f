"""Azure Monitor's clients, one per subscription, as the Activity Log and the metrics readers
both use them (azure-mgmt-monitor, imported with the first client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from azure.core.credentials import TokenCredential

from bot.hubs._built_once import BuiltOnce
from bot.hubs._clouds import AzureCloudEndpoints

if TYPE_CHECKING:
    from azure.mgmt.monitor import MonitorManagementClient

MonitorFactory = Callable[[str], "MonitorManagementClient"]


class MonitorClients:
    """``clients(subscription_id)``: that subscription's client, made once."""

    def __init__(self, credential: TokenCredential, cloud: AzureCloudEndpoints,
                 factory: MonitorFactory | None = None) -> None:
        self._credential, self._cloud = credential, cloud
        self._factory = factory or self._build
        self._clients: BuiltOnce[str, MonitorManagementClient] = BuiltOnce()

    def __call__(self, subscription_id: str) -> MonitorManagementClient:
        return self._clients.get(subscription_id, lambda: self._factory(subscription_id))

    def _build(self, subscription_id: str) -> MonitorManagementClient:
        from azure.mgmt.monitor import MonitorManagementClient

        return MonitorManagementClient(self._credential, subscription_id,
                                       base_url=self._cloud.resource_manager,
                                       credential_scopes=self._cloud.credential_scopes)
