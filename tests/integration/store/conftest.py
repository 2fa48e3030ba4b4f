from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.model import HubRef, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus, new_request_id

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NewRequest = Callable[..., FailoverRequest]


@pytest.fixture
def new_request() -> NewRequest:
    """Builds a request awaiting approval; keyword arguments override any field."""

    def build(hub: str = "contoso-hub", **overrides: Any) -> FailoverRequest:
        values: dict[str, Any] = dict(
            id=new_request_id(),
            hub=HubRef(hub, "00000000-0000-0000-0000-000000000001", "rg-iot"),
            kind=OperationKind.FAILOVER,
            status=RequestStatus.AWAITING_APPROVAL,
            requested_by="U_REQUESTER",
            reason="INC-42 West Europe outage",
            channel_id="C_INCIDENT",
            created_at=T0,
            expires_at=T0 + timedelta(minutes=30),
            region_before="westeurope",
            region_target="northeurope",
            device_count=1200,
        )
        values.update(overrides)
        return FailoverRequest(**values)

    return build
