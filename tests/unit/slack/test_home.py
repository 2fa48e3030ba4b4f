"""The Home tab's view (``bot.slack.home``): what it says, and Slack's limits with a big fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.views import View

from bot.domain.batch import Batch, BatchStatus, totals
from bot.domain.model import HubRef, HubState, OperationKind
from bot.domain.regions import display_name
from bot.domain.request import FailoverRequest, RequestStatus
from bot.service import Board, Fleet
from bot.slack.home import MAX_BLOCKS, SECTION_CHARS, home_view, unavailable_view

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REGIONS = ["westeurope", "northeurope", "eastus", "westus2", "southeastasia", "eastasia",
           "japaneast", "japanwest", "uksouth", "ukwest", "centralus", "eastus2"] * 4


def _hub(i: int, home: str, active: str, state: str = "Active") -> HubState:
    return HubState(HubRef(f"hub-{i:04d}", "sub", "rg"), home, active, home, state,
                    "Succeeded", device_count=1000 + i)


def _request(i: int, status: RequestStatus, batch: str | None = None) -> FailoverRequest:
    return FailoverRequest(
        id=f"fr-{i:08x}", hub=HubRef(f"hub-{i:04d}", "sub", "rg"), kind=OperationKind.FAILOVER,
        status=status, requested_by="U0ALICE", reason="INC-42", channel_id="C0INCIDENT",
        created_at=T0, expires_at=T0 + timedelta(minutes=30), region_before="westeurope",
        region_target="northeurope", approved_by=None if status is
        RequestStatus.AWAITING_APPROVAL else "U0BOB", decided_at=T0, started_at=T0,
        batch_id=batch)


def _board(n: int, status: BatchStatus, stopped: bool = False) -> Board:
    batch = Batch(id=f"fb-{n:08x}", kind=OperationKind.FAILOVER, region="westeurope",
                  status=status, requested_by="U0ALICE", reason="INC-42", channel_id="C0INC",
                  created_at=T0, expires_at=T0 + timedelta(minutes=30), hub_count=3,
                  approved_by="U0BOB" if status.decided else None,
                  stopped_by="U0CAROL" if stopped else None,
                  stopped_at=T0 if stopped else None,
                  message_ts="1700000000.000100" if n % 2 else None)
    members = [_request(100 * n + i, s, batch.id) for i, s in enumerate(
        [RequestStatus.SUCCEEDED, RequestStatus.RUNNING, RequestStatus.FAILED])]
    return Board(batch, [], totals(members), T0)


def _fleet(hubs: int) -> Fleet:
    states = [_hub(i, REGIONS[i % len(REGIONS)],
                   REGIONS[(i + (i % 3 == 0)) % len(REGIONS)],
                   "Failover" if i % 7 == 0 else "Active") for i in range(hubs)]
    by_region: dict[str, list[HubState]] = {}
    for hub in states:
        by_region.setdefault(display_name(hub.active_region), []).append(hub)
    away = [h for h in states if h.home_region != h.active_region]
    running = [_request(i, [RequestStatus.RUNNING, RequestStatus.APPROVED,
                            RequestStatus.AWAITING_APPROVAL][i % 3], "fb-00000001" if i % 2
                        else None) for i in range(min(hubs, 120))]
    boards = [_board(n, s, stopped=n == 3) for n, s in enumerate(
        [BatchStatus.AWAITING_APPROVAL, BatchStatus.APPROVED, BatchStatus.REJECTED,
         BatchStatus.APPROVED, BatchStatus.EXPIRED] * 3)]
    return Fleet(by_region, away, running, boards)


def _texts(view: dict[str, Any]) -> list[str]:
    texts = []
    for block in view["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if "text" in e]
    return texts


def test_a_fleet_of_hundreds_stays_within_slacks_limits() -> None:
    fleet = _fleet(900)
    view = home_view(fleet, T0).to_dict()
    View(**view).validate_json()
    assert view["type"] == "home" and len(view["blocks"]) <= MAX_BLOCKS
    texts = _texts(view)
    assert all(len(t) <= SECTION_CHARS for t in texts)
    whole = "\n".join(texts)
    assert f"900 hubs in {len(fleet.by_region)} regions" in whole
    assert "… and" in whole and "more: `/iothub list` shows them all" in whole  # away, cut
    assert "40 running, 40 starting, 40 waiting for approval" in whole
    running = next(t for t in texts if t.startswith("*Running"))
    shown = running.count("\n• ")
    assert 5 <= shown <= 20 and f"… and {120 - shown} more" in running  # cut to fit


def test_it_names_regions_operations_and_batches() -> None:
    fleet = _fleet(6)
    whole = "\n".join(_texts(home_view(fleet, T0, {"fb-00000001": "https://x/p1"}).to_dict()))
    assert "*West Europe*" in whole and "*North Europe*" in whole
    assert "`hub-0000` active in *North Europe* (home West Europe)" in whole
    assert "`hub-0000` – failover running since" in whole and "<@U0ALICE>" in whole
    assert "`hub-0002` – failover waiting for approval" in whole
    assert "`fb-00000001` *failover* of *West Europe* – in progress" in whole
    assert "1 of 3 done · 1 running · 1 failed" in whole
    assert "<https://x/p1|the board>" in whole
    assert "`fb-00000003` *failover* of *West Europe* – stopped, finishing" in whole
    assert "stopped by <@U0CAROL>" in whole
    assert "`fb-00000000` *failover* of *West Europe* – waiting for approval" in whole
    assert "– rejected" in whole and "– expired" in whole


def test_an_empty_or_unreadable_fleet_says_so() -> None:
    quiet = "\n".join(_texts(home_view(Fleet({}, [], [], []), T0).to_dict()))
    assert "can't see any IoT Hubs" in quiet and "Nothing is running" in quiet
    assert "None yet" in quiet
    down = "\n".join(_texts(home_view(Fleet({}, [], [], [], note="Azure could not be read: "
                                             "<boom>"), T0).to_dict()))
    assert "Azure could not be read: &lt;boom&gt;" in down
    unavailable = unavailable_view("I could not reach the audit database.", T0).to_dict()
    View(**unavailable).validate_json()
    assert "audit database" in "\n".join(_texts(unavailable))
