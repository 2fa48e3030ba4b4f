"""Stand-ins for Azure identity in the gateway tests."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken

SUBSCRIPTION = "91d12660-3dec-467a-be2a-213b5544ddc0"


class StaticTokenCredential:
    """A TokenCredential that hands out one fixed token and remembers the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("static-test-token", int(time.time()) + 3600)
