"""A regional batch's board, its failure replies and its closing reply (pure builders).

The board is one message, edited in place, for a batch of any size: Slack allows 50 blocks a
message and 3000 characters a section, so hub lines are grouped into a few sections, the ones
people act on first (running, failed, devices not back, waiting, then done), and beyond
``MAX_LINES`` the rest is counted ("…and 940 more done"). A moved hub's line ends with its
verification ("verified 97 %", "devices not back 40 %"), counted under the totals ("11 moved ·
10 verified · 1 devices not back"): a batch's verdicts are shown here, not replied one by one.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.batch import Batch, BatchStatus
from bot.domain.durations import humanize
from bot.domain.model import OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.verification_state import VerifyStatus
from bot.service import AUTO_APPROVER, Board, BoardCheck, BoardLine, CheckTotals
from bot.slack.messages import APPROVE, REJECT
from bot.slack.text import clip, escape, grouped, region, took, user, when

STOP_REST = "stop_rest"  # action_id; value = batch id
RETRY_FAILED = "retry_failed"  # action_id; value = batch id

MAX_LINES = 50  # hub lines on the board; the rest are counted
SECTION_CHARS = 3000  # Slack's limit for a section's text
MAX_BLOCKS = 50  # Slack's limit for a message
AZURE_WORDS = 160  # characters of Azure's error message on a board line
LATER = timedelta(seconds=30)  # a hub starting later than this says when (a cool-down)

_S = RequestStatus
_ICONS = {
    _S.AWAITING_APPROVAL: ":raised_hand:", _S.APPROVED: ":hourglass_flowing_sand:",
    _S.RUNNING: ":arrows_counterclockwise:", _S.SUCCEEDED: ":large_green_circle:",
    _S.FAILED: ":red_circle:", _S.REJECTED: ":no_entry_sign:", _S.EXPIRED: ":hourglass:",
    _S.CANCELLED: ":heavy_multiplication_x:", _S.SKIPPED: ":fast_forward:",
}
# Board order: what people act on first.
_RANK = {_S.RUNNING: 0, _S.FAILED: 1, _S.APPROVED: 4, _S.AWAITING_APPROVAL: 4,
         _S.SUCCEEDED: 5, _S.SKIPPED: 6, _S.CANCELLED: 7, _S.REJECTED: 7, _S.EXPIRED: 7}
_V = VerifyStatus
_CHECK_RANK = {_V.NOT_RECOVERED: 2, _V.UNVERIFIED: 3}  # moved, but to look at
_WORDS = {0: "running", 1: "failed", 2: "devices not back", 3: "could not verify",
          4: "waiting", 5: "done", 6: "skipped", 7: "cancelled"}
_CHECK_ICONS = {_V.WATCHING: ":eyes:", _V.VERIFIED: ":white_check_mark:",
                _V.NOT_RECOVERED: ":warning:", _V.UNVERIFIED: ":grey_question:"}
_CHECK_WORDS = {_V.WATCHING: "verifying…", _V.VERIFIED: "verified",
                _V.NOT_RECOVERED: "devices not back", _V.UNVERIFIED: "could not verify"}


def title(batch: Batch, count: int) -> str:
    hubs = f"{count} hub{'s' if count != 1 else ''}"
    if batch.kind is OperationKind.FAILOVER:
        return f"Fail over {hubs} from {region(batch.region)} to their paired regions"
    return f"Fail back {hubs} to {region(batch.region)}, their home region"


def board_text(board: Board) -> str:
    """The notification text (and the fallback for the blocks)."""
    return f"{title(board.batch, board.totals.total)} ({board.batch.id}): " \
           f"{_summary(board)}"


def board_blocks(board: Board) -> list[Block]:
    batch = board.batch
    blocks: list[Block] = [
        SectionBlock(text=f"{_batch_icon(board)} *{title(batch, board.totals.total)}*"),
        SectionBlock(fields=[
            MarkdownTextObject(text=f"*Requested by*\n{user(batch.requested_by)}"),
            MarkdownTextObject(text=f"*Batch*\n`{batch.id}`"),
            MarkdownTextObject(text=f"*Requested*\n{when(batch.created_at)}"),
            MarkdownTextObject(text=f"*Hubs*\n{board.totals.total}"),
        ]),
        SectionBlock(text=clip(f"*Reason*\n{escape(batch.reason) or '–'}", SECTION_CHARS)),
        SectionBlock(text=f"*{board.totals.summary()}*" + (
            f"\n{check_totals(board.checks)}" if board.checks.any else "")),
        *line_sections(board.lines, board.now),
        ContextBlock(elements=[MarkdownTextObject(text=clip(_state(board), SECTION_CHARS))]),
    ]
    buttons = _buttons(board)
    if buttons is not None:
        blocks.append(buttons)
    return blocks[:MAX_BLOCKS]


def line_sections(lines: list[BoardLine], now: datetime,
                  limit: int = MAX_LINES) -> list[Block]:
    """The hub lines, most urgent first, in sections of at most 3000 characters."""
    ordered = sorted(lines, key=_rank)
    shown = [hub_line(line, now) for line in ordered[:limit]]
    rest = Counter(_rank(line) for line in ordered[limit:])
    if rest:
        shown.append("…and " + ", ".join(f"{n:,} more {_WORDS[rank]}"
                                         for rank, n in sorted(rest.items())))
    return [SectionBlock(text=text) for text in grouped(shown, SECTION_CHARS)]


def _rank(line: BoardLine) -> int:
    if line.check is not None and line.check.status in _CHECK_RANK:
        return _CHECK_RANK[line.check.status]
    return _RANK[line.request.status]


def hub_line(line: BoardLine, now: datetime) -> str:
    r = line.request
    check = f" · {check_words(line.check)}" if line.check is not None else ""
    return (f"{_ICONS[r.status]} `{r.hub.name}` → {region(r.region_target)} · "
            f"{_progress(r, line.estimate, now)}{check}")


def check_words(check: BoardCheck) -> str:
    """":white_check_mark: verified 97 %", ":warning: devices not back 40 %", …"""
    pct = f" {check.devices_pct} %" if check.devices_pct is not None else ""
    return f"{_CHECK_ICONS[check.status]} {_CHECK_WORDS[check.status]}{pct}"


def check_totals(checks: CheckTotals) -> str:
    """"11 moved · 10 verified · 1 devices not back" (zero counts but these two left out)."""
    parts = [f"{checks.moved:,} moved", f"{checks.verified:,} verified"]
    for count, word in ((checks.not_recovered, "devices not back"),
                        (checks.unverified, "could not verify"), (checks.watching, "verifying")):
        if count:
            parts.append(f"{count:,} {word}")
    return " · ".join(parts)


def _summary(board: Board) -> str:
    """The totals, and the verifications' when there are any."""
    checks = board.checks
    return board.totals.summary() + (f"; {check_totals(checks)}" if checks.any else "")


def _progress(r: FailoverRequest, estimate: timedelta, now: datetime) -> str:
    if r.status is _S.AWAITING_APPROVAL:
        return "waiting for approval"
    if r.status is _S.APPROVED:
        if r.next_poll_at and r.next_poll_at - now > LATER:
            return f"waiting · starts at {when(r.next_poll_at, '{time}')}"
        return "waiting to start"
    if r.status is _S.RUNNING:
        since = r.started_at or now
        return f"running {humanize(now - since)} of ~{humanize(estimate)}"
    if r.status is _S.SUCCEEDED:
        return f"done: active in *{region(r.region_after or r.region_target)}* " \
               f"after {took(r.duration)}"
    if r.status is _S.FAILED:
        code = f"`{escape(clip(r.error_code, 60))}` " if r.error_code else ""
        words = escape(clip(r.error_message or "Azure gave no reason", AZURE_WORDS))
        return f"failed: {code}{words}"
    if r.status is _S.SKIPPED:
        return f"skipped: {escape(clip(r.error_message or 'nothing to do', AZURE_WORDS))}"
    return r.status.value


def _batch_icon(board: Board) -> str:
    status = board.batch.status
    if status is BatchStatus.AWAITING_APPROVAL:
        return ":raised_hand:"
    if status is BatchStatus.REJECTED:
        return ":no_entry_sign:"
    if status is BatchStatus.EXPIRED:
        return ":hourglass:"
    if not board.finished:
        return ":arrows_counterclockwise:"
    if board.totals.failed:
        return ":red_circle:"
    checks = board.checks
    return ":warning:" if checks.not_recovered or checks.unverified else ":checkered_flag:"


def _state(board: Board) -> str:
    batch = board.batch
    decided = f" {when(batch.decided_at)}" if batch.decided_at else ""
    if batch.status is BatchStatus.AWAITING_APPROVAL:
        return (f"Needs a second person's approval. Expires {when(batch.expires_at)}. "
                "Each hub's Event Hub-compatible endpoint will change.")
    if batch.status is BatchStatus.REJECTED:
        return f"Rejected by {user(batch.approved_by)}{decided}. Nothing was started."
    if batch.status is BatchStatus.EXPIRED:
        return f"Expired{decided} without a decision. Nothing was started."
    line = ("Approved automatically (BOT_REQUIRE_APPROVAL=false)."
            if batch.approved_by == AUTO_APPROVER
            else f"Approved by {user(batch.approved_by)}{decided}.")
    if batch.stopped_at:
        line += (f" Stopped by {user(batch.stopped_by)} {when(batch.stopped_at)}: hubs not "
                 "started by then were cancelled; those already running go on.")
    record = f"The record: `/iothub audit --batch {batch.id}`."
    if board.finished:
        return line + f" Finished. {record}"
    if board.totals.finished:
        return (line + " Every hub has ended; the moved ones are being verified from Azure "
                f"Monitor's metrics, their verdicts shown here. {record}")
    if batch.stopped_at:
        return line + " Failures are replied in the thread."
    return line + " Hubs start one after another; failures are replied in the thread."


def _buttons(board: Board) -> ActionsBlock | None:
    batch = board.batch
    if batch.status is BatchStatus.AWAITING_APPROVAL:
        what = title(batch, board.totals.total)
        return ActionsBlock(block_id="decision", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=batch.id, style="primary",
                          confirm=ConfirmObject(
                              title="Approve this batch?",
                              text=clip(f"{what}. Hubs start at once, one after another.", 300),
                              confirm="Approve", deny="Not yet")),
            ButtonElement(text="Reject", action_id=REJECT, value=batch.id, style="danger",
                          confirm=ConfirmObject(title="Reject this batch?",
                                                text="No hub is moved; the requester will "
                                                     "have to ask again.",
                                                confirm="Reject", deny="Keep it")),
        ])
    if batch.status is BatchStatus.APPROVED and batch.stopped_at is None \
            and board.totals.waiting:
        return ActionsBlock(block_id="batch", elements=[stop_button(batch)])
    return None


def stop_button(batch: Batch) -> ButtonElement:
    return ButtonElement(text="Stop the rest", action_id=STOP_REST, value=batch.id,
                         style="danger", confirm=ConfirmObject(
                             title="Stop the rest?",
                             text="Hubs not started yet are cancelled. Hubs already running "
                                  f"go on: Azure cannot stop a {batch.kind.value}.",
                             confirm="Stop the rest", deny="Keep going"))


def retry_button(batch_id: str) -> ButtonElement:
    return ButtonElement(text="Retry failed", action_id=RETRY_FAILED, value=batch_id,
                         style="primary", confirm=ConfirmObject(
                             title="Retry the failed hubs?",
                             text="Each failed hub of this batch is asked for again and "
                                  "approved by whoever confirms here (an approver, not the "
                                  "batch's requester), then re-checked before it starts.",
                             confirm="Retry", deny="Not now"))


def failure_text(request: FailoverRequest) -> str:
    return f"The {request.kind.value} of {request.hub.name} ({request.batch_id}) failed."


def failure_blocks(board: Board, request: FailoverRequest) -> list[Block]:
    """The reply under the board: which hub, Azure's own words, and Retry failed."""
    code = f" (`{escape(clip(request.error_code, 60))}`)" if request.error_code else ""
    said = escape(request.error_message or "Azure gave no reason.")
    return [
        SectionBlock(text=clip(
            f":red_circle: The {request.kind.value} of `{request.hub.name}` to "
            f"{region(request.region_target)} failed{code}. Azure said:\n> {said}\n"
            f"The hub is still served from {region(request.region_before)}.", SECTION_CHARS)),
        ActionsBlock(block_id="failure", elements=[retry_button(board.batch.id)]),
    ]


def finished_text(board: Board) -> str:
    batch = board.batch
    return (f":checkered_flag: {title(batch, board.totals.total)}: finished — "
            f"{_summary(board)}. The record: `/iothub audit --batch {batch.id}` "
            f"(or `failover-bot audit --batch {batch.id}`).")
