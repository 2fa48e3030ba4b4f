"""Reading: a hub's status and the hub list, as ``/iothub status`` and ``/iothub list`` show
them."""

from __future__ import annotations

from bot.domain.model import OperationKind
from bot.service import HubStatus
from tests.support.service_world import HUB, REQUESTER, World


def test_status_shows_open_request_quota_and_recent(world: World) -> None:
    request_id = world.request_id()
    status = world.service.reading.status(HUB, REQUESTER)
    assert isinstance(status, HubStatus)
    assert status.open_request and status.open_request.id == request_id
    assert status.quota_left == {OperationKind.FAILOVER: 2, OperationKind.FAILBACK: 2}
    assert [r.id for r in status.recent] == [request_id]


def test_list_hubs_is_sorted_and_paged(world: World) -> None:
    for i in range(25):
        world.gateway.add_hub(f"hub-{i:02d}", "East US")
    first = world.service.reading.list_hubs(page=1, page_size=10)
    last = world.service.reading.list_hubs(page=9, page_size=10)
    assert first.pages == 3 and first.total == 27  # type: ignore[union-attr]
    assert [h.name for h in first.hubs][:2] == ["contoso-weu", "fabrikam-wus2"]  # type: ignore[union-attr]
    assert last.page == 3 and len(last.hubs) == 7  # type: ignore[union-attr]
