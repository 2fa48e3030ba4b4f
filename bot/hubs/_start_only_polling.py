"""An ARM polling method that stops right after the start request."""

from __future__ import annotations

from typing import Any

from azure.mgmt.core.polling.arm_polling import ARMPolling


class StartOnlyPolling(ARMPolling):
    """Keeps the operation URL from the 202 and polls nothing.

    ``LROPoller`` starts a thread unless the method says it is finished, and ``ARMPolling``
    would then poll every 30 s until the end. The bot's poller looks later instead, from any
    process, with the URL kept here.
    """

    operation_url: str | None = None

    def initialize(self, client: Any, initial_response: Any,
                   deserialization_callback: Any) -> None:
        super().initialize(client, initial_response, deserialization_callback)
        headers = initial_response.http_response.headers
        self.operation_url = headers.get("Azure-AsyncOperation") or headers.get("Location")

    def finished(self) -> bool:
        # "Our part is done": stops LROPoller from starting a polling thread.
        return True

    def run(self) -> None:
        return None
