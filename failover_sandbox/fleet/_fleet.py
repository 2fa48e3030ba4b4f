"""Fleets for the simulator: a small realistic one, and generated ones for benchmarks."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import timedelta

from bot.domain.regions import region_key
from bot.hubs._geo_pairs import PAIRED_REGIONS

PROD = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
STAGING = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"

# name, home region, devices, subscription, resource group
DEFAULT_FLEET: list[tuple[str, str, int, str, str]] = [
    ("contoso-prod-weu", "West Europe", 250_000, PROD, "rg-contoso-prod"),
    ("contoso-prod-neu", "North Europe", 180_000, PROD, "rg-contoso-prod"),
    ("fabrikam-telemetry-wus2", "West US 2", 1_800_000, PROD, "rg-fabrikam-telemetry"),
    ("fabrikam-staging-eus", "East US", 1_200, STAGING, "rg-fabrikam-staging"),
    ("northwind-sensors-sea", "Southeast Asia", 85_000, PROD, "rg-northwind-sensors"),
    ("tailspin-fleet-uks", "UK South", 12_500, STAGING, "rg-tailspin-fleet"),
    ("woodgrove-meters-eus2", "East US 2", 640_000, PROD, "rg-woodgrove-meters"),
]

# The sandbox's reminder that people fail hubs over outside the bot: hub, who, how long ago.
PORTAL_FAILOVER = ("contoso-prod-neu", "oncall@contoso.com", timedelta(hours=1))

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
