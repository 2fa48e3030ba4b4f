"""Azure's fixed region pairs: where an IoT Hub fails over to (it cannot be chosen)."""

from __future__ import annotations

from bot.domain.regions import display_name, region_key

_PAIRS = [
    ("East US", "West US"), ("East US 2", "Central US"),
    ("North Central US", "South Central US"), ("West US 2", "West Central US"),
    ("Canada Central", "Canada East"), ("North Europe", "West Europe"),
    ("UK South", "UK West"), ("France Central", "France South"),
    ("Germany West Central", "Germany North"), ("Switzerland North", "Switzerland West"),
    ("Norway East", "Norway West"), ("Southeast Asia", "East Asia"),
    ("Japan East", "Japan West"), ("Korea Central", "Korea South"),
    ("Central India", "South India"), ("Australia East", "Australia Southeast"),
    ("Australia Central", "Australia Central 2"), ("UAE North", "UAE Central"),
    ("South Africa North", "South Africa West"), ("China East", "China North"),
    ("China East 2", "China North 2"), ("USGov Virginia", "USGov Texas"),
]
_PAIR_OF = {region_key(a): b for a, b in _PAIRS} | {region_key(b): a for a, b in _PAIRS}

PAIRED_REGIONS: list[tuple[str, str]] = list(_PAIRS)


def paired_region(region: str) -> str:
    """The display name of ``region``'s pair; ValueError for a region without one."""
    try:
        return _PAIR_OF[region_key(region)]
    except KeyError:
        raise ValueError(f"{display_name(region)} has no paired region for IoT Hub failover") \
            from None
