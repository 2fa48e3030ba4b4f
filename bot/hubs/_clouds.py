"""Which Azure Resource Manager endpoint, token scope and login host belong to a cloud."""

from __future__ import annotations

from dataclasses import dataclass

from azure.identity import AzureAuthorityHosts


@dataclass(frozen=True)
class AzureCloudEndpoints:
    """The endpoints the bot needs in one Azure cloud."""

    name: str
    resource_manager: str
    authority_host: str

    @property
    def credential_scopes(self) -> list[str]:
        return [f"{self.resource_manager}/.default"]

    @property
    def resource_manager_host(self) -> str:
        return self.resource_manager.removeprefix("https://")


_CLOUDS = {
    "AzureCloud": AzureCloudEndpoints(
        "AzureCloud", "https://management.azure.com", AzureAuthorityHosts.AZURE_PUBLIC_CLOUD
    ),
    "AzureChinaCloud": AzureCloudEndpoints(
        "AzureChinaCloud", "https://management.chinacloudapi.cn", AzureAuthorityHosts.AZURE_CHINA
    ),
    "AzureUSGovernment": AzureCloudEndpoints(
        "AzureUSGovernment", "https://management.usgovcloudapi.net",
        AzureAuthorityHosts.AZURE_GOVERNMENT,
    ),
}


def cloud_endpoints(cloud: str) -> AzureCloudEndpoints:
    """The endpoints of ``cloud`` (``AzureCloud``, ``AzureChinaCloud``, ``AzureUSGovernment``)."""
    try:
        return _CLOUDS[str(cloud)]
    except KeyError:
        known = ", ".join(_CLOUDS)
        raise ValueError(f"unknown Azure cloud {cloud!r} (use one of {known})") from None


def authority_for(cloud: str) -> str:
    """The Microsoft Entra login host for ``cloud``, for ``DefaultAzureCredential(authority=…)``."""
    return cloud_endpoints(cloud).authority_host
