"""The simulated fleet: IoT Hubs that behave as Azure's do, behind the bot's ``IotHubGateway``
protocol (``bot.hubs.gateway``), for the sandbox, the tests, the drills and the benchmarks."""

from __future__ import annotations

from bot.config import Settings
from bot.domain.clock import Clock
from bot.hubs.gateway import IotHubGateway


def simulated_gateway(settings: Settings, clock: Clock) -> IotHubGateway:
    """The simulated fleet (a gateway factory for benchmarks and drills; no Azure needed).
    Each process that calls it has a fleet of its own."""
    from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

    return SimulatedIotHubGateway.default_fleet(clock)
