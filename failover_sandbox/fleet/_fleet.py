"""Fleets for the simulator: a small realistic one, and generated ones for benchmarks."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import NamedTuple

from bot.domain.consumers import CONSUMERS_TAG, RESTART_TAG, RESTART_YES
from bot.domain.drill import DRILL_ALLOWED, DRILL_TAG
from bot.domain.regions import region_key
from failover_sandbox.fleet._geo_pairs import PAIRED_REGIONS

PROD = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
STAGING = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"

class FleetHub(NamedTuple):
    name: str
    home: str  # its home region, where it is active when the fleet starts
    devices: int
    subscription: str
    group: str  # resource group
    priority: int | None = None  # its ``failover-priority`` tag: lower starts first
    tags: Mapping[str, str] | None = None  # its other Azure tags
    recovers_to: float = 1.0  # the share of its devices that reconnect after a move


# The demo hub's consumers (in its own resource group), restarted by the bot after a move.
DEMO_CONSUMERS = {
    CONSUMERS_TAG: "Microsoft.Web/sites/func-telemetry,"
                   "Microsoft.StreamAnalytics/streamingjobs/asa-alerts",
    RESTART_TAG: RESTART_YES,
}
# The tag of the two small staging hubs that may be rehearsed with `/iothub drill` (issue
# #23): as Azure recommends, a drill moves a test hub, not production.
DRILL_MARK = {DRILL_TAG: DRILL_ALLOWED}

DEFAULT_FLEET: list[FleetHub] = [
    FleetHub("contoso-prod-weu", "West Europe", 250_000, PROD, "rg-contoso-prod",
             tags=DEMO_CONSUMERS),
    FleetHub("contoso-prod-neu", "North Europe", 180_000, PROD, "rg-contoso-prod"),
    FleetHub("fabrikam-telemetry-wus2", "West US 2", 1_800_000, PROD, "rg-fabrikam-telemetry"),
    FleetHub("fabrikam-staging-eus", "East US", 1_200, STAGING, "rg-fabrikam-staging",
             tags=DRILL_MARK),
    FleetHub("northwind-sensors-sea", "Southeast Asia", 85_000, PROD, "rg-northwind-sensors"),
    FleetHub("tailspin-fleet-uks", "UK South", 12_500, STAGING, "rg-tailspin-fleet"),
    FleetHub("woodgrove-meters-eus2", "East US 2", 640_000, PROD, "rg-woodgrove-meters"),
    # West Europe carries most of the fleet, so `/iothub failover --region "West Europe"`
    # (a regional outage) has a dozen hubs to move; two carry a failover-priority tag.
    FleetHub("fabrikam-telemetry-weu", "West Europe", 1_200_000, PROD, "rg-fabrikam-telemetry",
             priority=1),
    FleetHub("woodgrove-meters-weu", "West Europe", 420_000, PROD, "rg-woodgrove-meters",
             priority=2),
    FleetHub("proseware-vehicles-weu", "West Europe", 310_000, PROD, "rg-proseware-vehicles"),
    FleetHub("litware-meters-weu", "West Europe", 150_000, PROD, "rg-litware-meters"),
    FleetHub("tailspin-fleet-weu", "West Europe", 94_000, PROD, "rg-tailspin-fleet"),
    FleetHub("northwind-sensors-weu", "West Europe", 65_000, PROD, "rg-northwind-sensors"),
    FleetHub("adatum-plant-weu", "West Europe", 38_000, PROD, "rg-adatum-plant"),
    FleetHub("litware-hvac-weu", "West Europe", 12_400, PROD, "rg-litware-hvac"),
    # Its sites' firewalls admit only its home region's addresses: 40 % of its devices come back
    # after a move, so the sandbox shows a verdict of "not recovered".
    FleetHub("wingtip-edge-weu", "West Europe", 8_200, PROD, "rg-wingtip-edge",
             recovers_to=0.4),
    FleetHub("alpineski-lifts-weu", "West Europe", 3_600, PROD, "rg-alpineski-lifts"),
    FleetHub("contoso-staging-weu", "West Europe", 2_400, STAGING, "rg-contoso-staging",
             tags=DRILL_MARK),
    FleetHub("adatum-legacy-weu", "West Europe", 5_300, STAGING, "rg-adatum-legacy"),
]

# The sandbox's reminder that people fail hubs over outside the bot: hub, who, how long ago.
# contoso-prod-neu is then active in West Europe: the regional dialog lists it, not eligible
# (moving it would be a failback).
PORTAL_FAILOVER = ("contoso-prod-neu", "oncall@contoso.com", timedelta(hours=1))
# ...and that Azure has states of its own: this West Europe hub is Suspended (its staging
# subscription was disabled), so the regional dialog lists it, not eligible.
SUSPENDED_HUB = "adatum-legacy-weu"

_COMPANIES = ["contoso", "fabrikam", "northwind", "tailspin", "woodgrove", "adatum",
              "litware", "proseware", "wingtip", "alpineski"]
_PURPOSES = ["telemetry", "meters", "sensors", "fleet", "plant", "edge", "vehicles", "hvac"]
_ENVIRONMENTS = ["prod", "prod", "prod", "staging", "dev"]


def generated_hubs(n: int, rng: random.Random) -> Iterator[tuple[str, str, int, str, str]]:
    """``n`` plausible hubs: unique names, every paired region, devices log-uniform 1k–2M."""
    subscriptions = [PROD, STAGING]
    for i in range(n):
        company = rng.choice(_COMPANIES)
        env = rng.choice(_ENVIRONMENTS)
        home = rng.choice(rng.choice(PAIRED_REGIONS))
        devices = int(math.exp(rng.uniform(math.log(1_000), math.log(2_000_000))))
        name = f"{company}-{env}-{rng.choice(_PURPOSES)}-{region_key(home)[:8]}-{i:04d}"
        yield name, home, devices, subscriptions[i % 2], f"rg-{company}-{env}"
