"""A regional batch's board and dialog fit Slack's limits at any size (1,000 hubs): at most
50 blocks a message, 100 a view, 3000 characters a section, 100 options a multi-select;
and what matters is shown first (running, failed, then waiting, then done)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import cycle, islice
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain.batch import Batch, BatchStatus, Candidate, totals
from bot.domain.model import HubRef, HubState, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.verification_state import VerifyStatus
from bot.service import BatchSubmitted, Board, BoardCheck, BoardLine, RegionPreview
from bot.slack import board_blocks, region_modals

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
LONG = "Azure <!channel> & " + "x" * 4000
S = RequestStatus
BATCH = Batch(id="fb-1a2b3c4d", kind=OperationKind.FAILOVER, region="westeurope",
              status=BatchStatus.APPROVED, requested_by="U0ALICE", reason=LONG[:1000],
              channel_id="C0INCIDENT", created_at=T0, expires_at=T0 + timedelta(minutes=30),
              hub_count=1000, approved_by="U0BOB", decided_at=T0, message_ts="1.000100")


def _request(i: int, status: RequestStatus) -> FailoverRequest:
    return FailoverRequest(
        id=f"fr-{i:08x}", hub=HubRef(f"weu-{i:04d}-" + "h" * 40, "0" * 36, "rg-" + "r" * 80),
        kind=OperationKind.FAILOVER, status=status, requested_by="U0ALICE", reason="INC",
        channel_id="C0INCIDENT", created_at=T0, expires_at=T0 + timedelta(minutes=30),
        region_before="westeurope", region_target="northeurope", device_count=10_000,
        approved_by="U0BOB", decided_at=T0, started_at=T0,
        completed_at=T0 + timedelta(minutes=8) if status in (S.SUCCEEDED, S.FAILED) else None,
        region_after="northeurope" if status is S.SUCCEEDED else None,
        error_code="InternalServerError" if status is S.FAILED else None,
        error_message=LONG if status in (S.FAILED, S.SKIPPED) else None,
        next_poll_at=T0 + timedelta(minutes=30), batch_id=BATCH.id, batch_position=i)


def _board(statuses: list[RequestStatus], batch: Batch = BATCH,
           checks: list[BoardCheck | None] | None = None) -> Board:
    members = [_request(i, status) for i, status in enumerate(statuses)]
    checks = checks or [None] * len(members)
    lines = [BoardLine(r, timedelta(minutes=8), check) for r, check in zip(members, checks,
                                                                            strict=True)]
    return Board(batch, lines, totals(members), T0 + timedelta(minutes=3))


MIXED = [S.SUCCEEDED] * 940 + [S.RUNNING] * 30 + [S.FAILED] * 10 + [S.APPROVED] * 20


def _check_message(blocks: list[Block]) -> list[dict[str, Any]]:
    assert len(blocks) <= 50
    for block in blocks:
        block.validate_json()
    raw = [b.to_dict() for b in blocks]
    for block in raw:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    return raw


def _section_text(raw: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"]["text"] for b in raw if b["type"] == "section" and "text" in b)


def test_a_board_of_a_thousand_hubs_fits_and_shows_what_matters_first() -> None:
    raw = _check_message(board_blocks.board_blocks(_board(MIXED)))
    text = _section_text(raw)
    assert "940 of 1000 done · 30 running · 20 waiting · 10 failed" in text
    lines = [line for line in text.split("\n") if line.startswith(":")]
    icons = [line.split(" ")[0] for line in lines if "`weu-" in line]
    assert icons[:30] == [":arrows_counterclockwise:"] * 30
    assert icons[30:40] == [":red_circle:"] * 10
    assert icons[40:50] == [":hourglass_flowing_sand:"] * 10
    assert "…and 10 more waiting, 940 more done" in text
    assert "InternalServerError" in text and "<!channel>" not in text
    buttons = [e for b in raw if b["type"] == "actions" for e in b["elements"]]
    assert [(e["action_id"], e["value"]) for e in buttons] == [("stop_rest", BATCH.id)]
    assert "confirm" in buttons[0]


@pytest.mark.parametrize("status", list(BatchStatus))
@pytest.mark.parametrize("members", [[S.AWAITING_APPROVAL] * 1000, MIXED,
                                     list(islice(cycle(S), 1000)), [S.SUCCEEDED]])
def test_every_board_state_is_valid_block_kit(status: BatchStatus,
                                              members: list[RequestStatus]) -> None:
    batch = Batch(**{**BATCH.__dict__, "status": status})
    raw = _check_message(board_blocks.board_blocks(_board(members, batch)))
    actions = {e["action_id"]: e["value"] for b in raw if b["type"] == "actions"
               for e in b["elements"]}
    if status is BatchStatus.AWAITING_APPROVAL:
        assert actions == {"approve": BATCH.id, "reject": BATCH.id}
    else:
        assert "approve" not in actions


def test_a_stopped_or_finished_batch_offers_no_stop_button() -> None:
    stopped = Batch(**{**BATCH.__dict__, "stopped_by": "U0BOB", "stopped_at": T0})
    for board in (_board(MIXED, stopped), _board([S.SUCCEEDED] * 6)):
        assert not any(b["type"] == "actions"
                       for b in _check_message(board_blocks.board_blocks(board)))


def test_the_failure_reply_quotes_azure_and_offers_retry_failed() -> None:
    board = _board(MIXED)
    raw = _check_message(board_blocks.failure_blocks(board, board.failed[0]))
    text = json.dumps(raw)
    assert "InternalServerError" in text and "Azure said" in text
    assert [(e["action_id"], e["value"]) for b in raw if b["type"] == "actions"
            for e in b["elements"]] == [("retry_failed", BATCH.id)]


def test_the_closing_reply_has_the_totals_and_the_audit_command() -> None:
    text = board_blocks.finished_text(_board([S.SUCCEEDED] * 9 + [S.FAILED] * 3))
    assert "9 of 12 done · 3 failed" in text and "/iothub audit --batch fb-1a2b3c4d" in text


# ---- verification on the board (issue #22) ------------------------------------------------

V = VerifyStatus
VERIFIED, NOT_BACK = BoardCheck(V.VERIFIED, 97), BoardCheck(V.NOT_RECOVERED, 40)
UNVERIFIED, WATCHING = BoardCheck(V.UNVERIFIED), BoardCheck(V.WATCHING)
# 1,000 hubs: 940 moved (900 verified, 25 devices not back, 5 could not verify, 10 being
# verified), 30 running, 10 failed, 20 waiting.
CHECKED = ([VERIFIED] * 900 + [NOT_BACK] * 25 + [UNVERIFIED] * 5 + [WATCHING] * 10
           + [None] * 60)


def test_a_thousand_hubs_verified_fit_and_the_ones_whose_devices_are_not_back_come_first(
        ) -> None:
    raw = _check_message(board_blocks.board_blocks(_board(MIXED, checks=CHECKED)))
    text = _section_text(raw)
    assert ("*940 of 1000 done · 30 running · 20 waiting · 10 failed*\n"
            "940 moved · 900 verified · 25 devices not back · 5 could not verify · "
            "10 verifying") in text
    lines = [line for line in text.split("\n") if "`weu-" in line]
    assert len(lines) == 50
    assert [line.split(" ")[0] for line in lines[:40]] == (
        [":arrows_counterclockwise:"] * 30 + [":red_circle:"] * 10)
    assert all(line.endswith(" · :warning: devices not back 40 %") for line in lines[40:])
    assert "…and 15 more devices not back, 5 more could not verify, 20 more waiting, " \
           "910 more done" in text


@pytest.mark.parametrize("check", [VERIFIED, NOT_BACK, UNVERIFIED, WATCHING,
                                   BoardCheck(V.VERIFIED, 1000)])
def test_every_verification_marker_fits_on_a_board_of_a_thousand_moved_hubs(
        check: BoardCheck) -> None:
    board = _board([S.SUCCEEDED] * 1000, checks=[check] * 1000)
    raw = _check_message(board_blocks.board_blocks(board))
    marker = board_blocks.check_words(check)
    assert _section_text(raw).count(marker) == board_blocks.MAX_LINES
    assert len(board_blocks.finished_text(board)) < 1000


def test_a_verdict_changes_the_boards_digest_so_its_keeper_edits_it() -> None:
    watching = _board([S.SUCCEEDED] * 3, checks=[VERIFIED, WATCHING, WATCHING])
    verified = _board([S.SUCCEEDED] * 3, checks=[VERIFIED, VERIFIED, WATCHING])
    assert watching.digest() != verified.digest()
    assert not verified.finished  # a hub is still being verified: the board is kept
    done = _board([S.SUCCEEDED] * 3, checks=[VERIFIED, VERIFIED, NOT_BACK])
    assert done.finished and done.digest() != verified.digest()
    assert _section_text(_check_message(board_blocks.board_blocks(done))).startswith(
        ":warning:")  # finished, but a hub's devices are not back


# ---- the regional dialog ------------------------------------------------------------------

def _candidate(i: int, reason: str | None) -> Candidate:
    hub = HubState(HubRef(f"weu-{i:04d}-" + "h" * 40, "0" * 36, "rg-" + "r" * 80),
                   "westeurope", "westeurope", "northeurope", "Active", "Succeeded",
                   device_count=1_000_000)
    return Candidate(hub, reason, quota_left=2, estimate_s=900.0,
                     failback_allowed_at=T0 + timedelta(minutes=40))


def _preview(eligible: int, not_eligible: int) -> RegionPreview:
    return RegionPreview("westeurope", OperationKind.FAILOVER,
                         [_candidate(i, None) for i in range(eligible)]
                         + [_candidate(eligible + i, LONG[:300]) for i in range(not_eligible)])


def _check_view(view: View) -> dict[str, Any]:
    view.validate_json()
    raw = view.to_dict()
    assert len(raw["blocks"]) <= 100
    for block in raw["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    return raw


@pytest.mark.parametrize(("eligible", "not_eligible", "mode"), [
    (6, 3, "multi_static_select"), (100, 0, "multi_static_select"),
    (101, 0, "checkboxes"), (900, 100, "checkboxes"), (0, 1000, None)])
def test_the_regional_dialog_fits_at_any_size(eligible: int, not_eligible: int,
                                              mode: str | None) -> None:
    preview = _preview(eligible, not_eligible)
    context = region_modals.RegionContext("westeurope", OperationKind.FAILOVER, "C0INCIDENT",
                                          region_modals.needs_all_eligible(preview))
    raw = _check_view(region_modals.region_confirm(context, preview, T0))
    hubs = [b for b in raw["blocks"] if b.get("block_id") == "hubs"]
    if mode is None:
        assert hubs == [] and "submit" not in raw
        return
    assert hubs[0]["element"]["type"] == mode
    if mode == "checkboxes":
        assert f"All {eligible:,} eligible hubs" in json.dumps(hubs)
        assert any(b.get("block_id") == "exclude" for b in raw["blocks"])
    else:
        assert len(hubs[0]["element"]["initial_options"]) == eligible
    assert region_modals.RegionContext.load(raw["private_metadata"]) == context


def test_a_reason_from_azure_cannot_ping_the_channel() -> None:
    line = region_modals.candidate_line(_candidate(1, LONG), T0)
    assert "<!channel>" not in line and "not eligible: Azure &lt;!channel&gt;" in line


def test_a_failback_inside_its_cool_down_says_when_it_starts() -> None:
    line = region_modals.candidate_line(_candidate(1, None), T0)
    assert "cool-down: starts at" in line and "2 left today" in line and "~15m" in line


def test_the_result_view_lists_what_was_left_out() -> None:
    context = region_modals.RegionContext("westeurope", OperationKind.FAILOVER, "C0INCIDENT")
    submitted = BatchSubmitted(BATCH, [_request(i, S.AWAITING_APPROVAL) for i in range(900)],
                               [(f"hub-{i}", LONG[:200]) for i in range(300)])
    raw = _check_view(region_modals.region_submitted(context, submitted, "not_in_channel"))
    text = json.dumps(raw, ensure_ascii=False)
    assert "of 900 hubs" in text and "…and 260 more" in text


def test_a_hub_out_of_quota_says_when_it_is_allowed_again_rounded_up() -> None:
    at = T0 + timedelta(hours=3, seconds=20)
    candidate = replace(_candidate(1, "today's failovers used (Azure allows 2…)"),
                        allowed_at=at)
    line = region_modals.candidate_line(candidate, T0)
    shown_at = T0 + timedelta(hours=3, minutes=1)  # 20:00:20 is shown as 20:01, never 20:00
    assert f"allowed again from <!date^{int(shown_at.timestamp())}^" in line


def test_priority_tagged_hubs_are_marked_in_the_regional_dialog() -> None:
    tagged = _candidate(1, None)
    tagged = replace(tagged, hub=replace(tagged.hub, priority=1))
    assert "priority 1" in region_modals.candidate_line(tagged, T0)
    assert "priority" not in region_modals.candidate_line(_candidate(2, None), T0)


def test_a_failback_batch_is_not_called_a_failover() -> None:
    failback = Batch(**{**BATCH.__dict__, "kind": OperationKind.FAILBACK})
    text = json.dumps(_check_message(board_blocks.board_blocks(_board(MIXED, failback))))
    assert "cannot stop a failback" in text and "failover" not in text.replace(
        "failover-bot", "")


def test_a_stopped_board_does_not_say_hubs_still_start() -> None:
    stopped = Batch(**{**BATCH.__dict__, "stopped_by": "U0BOB", "stopped_at": T0})
    text = json.dumps(_check_message(board_blocks.board_blocks(_board(MIXED, stopped))))
    assert "those already running go on" in text
    assert "Hubs start one after another" not in text
