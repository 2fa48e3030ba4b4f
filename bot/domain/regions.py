"""Azure region names: ``"West US 2"`` and ``"westus2"`` are the same region."""

from __future__ import annotations

import re

# Display names of the public, China and Government regions that IoT Hub runs in.
_DISPLAY_NAMES = [
    "East US", "East US 2", "West US", "West US 2", "West US 3", "Central US",
    "North Central US", "South Central US", "West Central US", "Central US EUAP",
    "East US 2 EUAP", "Canada Central", "Canada East", "Brazil South", "Brazil Southeast",
    "North Europe", "West Europe", "UK South", "UK West", "France Central", "France South",
    "Germany West Central", "Germany North", "Switzerland North", "Switzerland West",
    "Norway East", "Norway West", "Sweden Central", "Poland Central", "Italy North",
    "Spain Central", "East Asia", "Southeast Asia", "Japan East", "Japan West",
    "Korea Central", "Korea South", "Central India", "South India", "West India",
    "Australia East", "Australia Southeast", "Australia Central", "Australia Central 2",
    "UAE North", "UAE Central", "South Africa North", "South Africa West", "Qatar Central",
    "Israel Central", "Mexico Central", "New Zealand North",
    "China East", "China East 2", "China North", "China North 2", "China North 3",
    "USGov Virginia", "USGov Arizona", "USGov Texas", "USDoD Central", "USDoD East",
]
_BY_KEY = {re.sub(r"[^a-z0-9]", "", name.lower()): name for name in _DISPLAY_NAMES}


def region_key(name: str) -> str:
    """The canonical form Azure uses in ids: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def same_region(a: str, b: str) -> bool:
    return region_key(a) == region_key(b)


def display_name(name: str) -> str:
    """Azure's display name for ``name`` when known (``"westus2"`` → ``"West US 2"``)."""
    return _BY_KEY.get(region_key(name), name)


def known_region(name: str) -> str | None:
    """The region key of a region IoT Hub runs in (display or short name, any case), or
    ``None`` for a name that is none of them."""
    key = region_key(name)
    return key if key in _BY_KEY else None
