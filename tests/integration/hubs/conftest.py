"""Fixtures for the hub gateway tests: a fake clock, a static credential, an ARM emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from _arm_emulator import ArmEmulator
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential

from bot.domain.clock import FakeClock
from bot.hubs.azure import AzureIotHubGateway


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def credential() -> StaticTokenCredential:
    return StaticTokenCredential()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def arm(rsps: responses.RequestsMock, clock: FakeClock) -> ArmEmulator:
    return ArmEmulator(rsps, clock)


@pytest.fixture
def gateway(credential: StaticTokenCredential, clock: FakeClock) -> AzureIotHubGateway:
    return AzureIotHubGateway(credential, [SUBSCRIPTION], cloud="AzureCloud", clock=clock)
