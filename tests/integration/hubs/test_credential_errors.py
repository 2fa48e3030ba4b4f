"""A credential that cannot get a token is a transient failure, never a failed failover
(#13.6): no POST goes out without a token, and the poller tries again with back-off."""

from __future__ import annotations

from typing import Any

import pytest
from _arm_emulator import ArmEmulator
from _azure_fakes import SUBSCRIPTION
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import CredentialUnavailableError

from bot.domain.clock import FakeClock
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.gateway import Forbidden, TransientError


class FailingCredential:
    """Raises what azure-identity raises when Azure AD is down or out of reach."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise self.error


class _Response:  # the token endpoint's answer, as azure-identity attaches it
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "Internal Server Error" if status >= 500 else "Unauthorized"
        self.headers: dict[str, str] = {}
        self.request = None

    def text(self, encoding: str | None = None) -> str:
        return ""


@pytest.mark.parametrize("error", [
    ClientAuthenticationError(message="Unexpected response from Microsoft Entra ID",
                              response=_Response(500)),
    ClientAuthenticationError(message="Authentication failed"),
    CredentialUnavailableError(message="ManagedIdentityCredential: no response from IMDS"),
    ServiceRequestError("Connection refused"),
], ids=["token-endpoint-500", "no-response", "credential-unavailable", "unreachable"])
def test_no_token_is_transient_and_no_failover_post_goes_out(
        arm: ArmEmulator, clock: FakeClock, error: Exception) -> None:
    ref = arm.add_hub("contoso-prod-weu", "West Europe", "North Europe")
    gateway = AzureIotHubGateway(FailingCredential(error), [SUBSCRIPTION], clock=clock)

    with pytest.raises(TransientError):
        gateway.get_state(ref)
    with pytest.raises(TransientError) as start:
        gateway.start_failover(ref, "North Europe")

    assert arm.requests["failover"] == 0
    assert start.value.message  # Azure's (or azure-identity's) words are kept


def test_a_token_endpoint_that_refuses_the_secret_is_final(arm: ArmEmulator,
                                                           clock: FakeClock) -> None:
    ref = arm.add_hub("contoso-prod-weu", "West Europe", "North Europe")
    refused = ClientAuthenticationError(message="Authentication failed: invalid_client",
                                        response=_Response(401))
    gateway = AzureIotHubGateway(FailingCredential(refused), [SUBSCRIPTION], clock=clock)

    with pytest.raises(Forbidden):
        gateway.start_failover(ref, "North Europe")
    assert arm.requests["failover"] == 0
