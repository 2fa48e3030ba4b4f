"""What the bot's identity may do on a resource group, as Azure says it
(``Microsoft.Authorization/permissions``, azure-mgmt-authorization, imported on first use):
``doctor`` checks the optional permissions with it, and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError

from bot.domain.clock import Clock
from bot.domain.permissions import Permission
from bot.hubs._azure_errors import from_azure_error
from bot.hubs._clouds import AzureCloudEndpoints

if TYPE_CHECKING:
    from azure.mgmt.authorization import AuthorizationManagementClient

MAX_ENTRIES = 500  # role assignments on one scope; ARM's own limit is far below


class AzurePermissions:
    def __init__(self, credential: TokenCredential, cloud: AzureCloudEndpoints,
                 clock: Clock) -> None:
        self._credential, self._cloud, self._clock = credential, cloud, clock

    def permissions_on(self, subscription_id: str, resource_group: str) -> list[Permission]:
        """Raises the gateway's errors (``Forbidden``, ``HubNotFound`` for a missing group…)."""
        client = self._client(subscription_id)
        found = []
        try:
            for entry in client.permissions.list_for_resource_group(resource_group):
                found.append(Permission(tuple(entry.actions or ()),
                                        tuple(entry.not_actions or ())))
                if len(found) >= MAX_ENTRIES:
                    break
        except AzureError as exc:
            raise from_azure_error(exc, self._clock.now()) from exc
        return found

    def _client(self, subscription_id: str) -> AuthorizationManagementClient:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return AuthorizationManagementClient(self._credential, subscription_id,
                                             base_url=self._cloud.resource_manager,
                                             credential_scopes=self._cloud.credential_scopes)
