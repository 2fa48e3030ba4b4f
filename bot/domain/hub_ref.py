"""Where a hub lives in Azure: what every other module names a hub by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubRef:
    """Where a hub lives in Azure."""

    name: str
    subscription_id: str
    resource_group: str


__all__ = ["HubRef"]
