"""The Home tab (pure builder): what an incident commander opens first — the fleet by active
region, the hubs away from home, what runs or waits for approval, recent regional batches —
and the drills: the next ones scheduled and each hub's last result.

Slack allows 100 blocks in a Home view and 3000 characters in a section: lists are cut at a
few dozen lines with a count of the rest, so hundreds of hubs still make one short view.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.batch import BatchStatus
from bot.domain.durations import humanize
from bot.domain.request import FailoverRequest, RequestStatus
from bot.service import Board, Fleet
from bot.service.drill_reading import DrillOutlook, DrillResult
from bot.slack.text import clip, escape, region, took, user, when

SECTION_CHARS = 3000
MAX_REGIONS = 30
MAX_AWAY = 20
MAX_RUNNING = 20
MAX_BATCHES = 10  # one section each
MAX_DRILLS = 15  # lines in each of the drills' two sections
MAX_BLOCKS = 100  # Slack's limit for a Home view


def home_view(fleet: Fleet, now: datetime, links: Mapping[str, str] | None = None,
              drills: DrillOutlook | None = None) -> View:
    """The whole tab; ``links``: a batch id's board permalink, where Slack gave one."""
    links = links or {}
    blocks: list[Block] = [
        HeaderBlock(text="IoT Hub failover"),
        _context(f"As of {when(now)}. Open it again to refresh; `/iothub help` lists the "
                 "commands."),
    ]
    if fleet.note:
        blocks.append(_section(f":warning: {escape(fleet.note)}"))
    blocks += [*_fleet(fleet), DividerBlock(), _running(fleet.running), DividerBlock()]
    blocks += _batches(fleet.batches, links)
    if drills is not None:
        blocks += [DividerBlock(), *_drills(drills)]
    return View(type="home", blocks=blocks[:MAX_BLOCKS])


def unavailable_view(message: str, now: datetime) -> View:
    """When the fleet could not be read at all (the database is down)."""
    return View(type="home", blocks=[
        HeaderBlock(text="IoT Hub failover"),
        _section(f":warning: {escape(message)}"),
        _context(f"As of {when(now)}. Open the tab again to retry."),
    ])


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_CHARS))])


def _listing(head: str, lines: list[str], limit: int, rest: str) -> SectionBlock:
    """``head`` and at most ``limit`` lines (fewer if the section would pass Slack's 3000
    characters), then one saying how many more (``rest`` formats the count)."""
    shown, size = [head], len(head)
    for line in lines[:limit]:
        if size + 1 + len(line) > SECTION_CHARS - 80:  # room for the "… and n more" line
            break
        shown.append(line)
        size += 1 + len(line)
    if len(shown) - 1 < len(lines):
        shown.append(rest.format(n=len(lines) - (len(shown) - 1)))
    return _section("\n".join(shown))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _fleet(fleet: Fleet) -> list[Block]:
    total = sum(len(hubs) for hubs in fleet.by_region.values())
    if not total:
        return [_section("*Fleet*\nNo IoT Hubs to show." if fleet.note else
                         "*Fleet*\nI can't see any IoT Hubs in the configured subscriptions.")]
    away = {h.name for h in fleet.away_from_home}
    lines = []
    for name, hubs in sorted(fleet.by_region.items(), key=lambda item: (-len(item[1]), item[0])):
        notes = []
        if moved := sum(h.name in away for h in hubs):
            notes.append(f"{moved} away from home")
        if busy := sum(not h.is_ready for h in hubs):
            notes.append(f"{busy} not Active")
        lines.append(f"• *{escape(name)}*: {_plural(len(hubs), 'hub')}"
                     + (f" ({', '.join(notes)})" if notes else ""))
    head = (f"*Fleet by active region*: {_plural(total, 'hub')} in "
            f"{_plural(len(fleet.by_region), 'region')}")
    blocks: list[Block] = [_listing(head, lines, MAX_REGIONS, "… and {n} more regions")]
    if fleet.away_from_home:
        moved_lines = [f"• `{h.name}` active in *{region(h.active_region)}* "
                       f"(home {region(h.home_region)})"
                       for h in sorted(fleet.away_from_home, key=lambda h: h.name)]
        blocks.append(_listing(
            f"*Away from home* ({len(moved_lines)}): `/iothub failback <hub>` brings one back",
            moved_lines, MAX_AWAY, "… and {n} more: `/iothub list` shows them all"))
    else:
        blocks.append(_context("Every hub is active in its home region."))
    return blocks


_WAITING = "waiting for approval"
_ORDER = {RequestStatus.RUNNING: 0, RequestStatus.APPROVED: 1,
          RequestStatus.AWAITING_APPROVAL: 2}


def _running_line(request: FailoverRequest) -> str:
    if request.status is RequestStatus.AWAITING_APPROVAL:
        state, since = _WAITING, request.created_at
    elif request.status is RequestStatus.APPROVED:
        state, since = "approved, starting", request.decided_at or request.created_at
    else:
        state = "running"
        since = request.started_at or request.decided_at or request.created_at
    who = f"requested by {user(request.requested_by)}"
    if request.approved_by:
        who += f", approved by {user(request.approved_by)}"
    batch = f" · batch `{request.batch_id}`" if request.batch_id else ""
    return (f"• `{request.hub.name}` – {request.kind.value} {state} since {when(since)} · "
            f"{who} · <#{request.channel_id}>{batch}")


def _running(running: list[FailoverRequest]) -> SectionBlock:
    if not running:
        return _section("*Running and open operations*\nNothing is running or waiting for "
                        "approval.")
    ordered = sorted(running, key=lambda r: (_ORDER.get(r.status, 3), r.created_at))
    counts = [f"{sum(r.status is s for r in running)} {word}" for s, word in (
        (RequestStatus.RUNNING, "running"), (RequestStatus.APPROVED, "starting"),
        (RequestStatus.AWAITING_APPROVAL, _WAITING)) if any(r.status is s for r in running)]
    lines = [_running_line(r) for r in ordered]
    return _listing(f"*Running and open operations*: {', '.join(counts)}", lines, MAX_RUNNING,
                    "… and {n} more")


def batch_status(board: Board) -> str:
    batch = board.batch
    if batch.status is BatchStatus.AWAITING_APPROVAL:
        return _WAITING
    if batch.status is not BatchStatus.APPROVED:
        return batch.status.value  # rejected, expired
    if batch.stopped_at is not None:
        return "stopped" + ("" if board.totals.finished else ", finishing")
    return "finished" if board.totals.finished else "in progress"


def _batch(board: Board, link: str | None) -> SectionBlock:
    batch = board.batch
    who = f"Requested by {user(batch.requested_by)} {when(batch.created_at)}"
    if batch.approved_by:
        verb = "rejected" if batch.status is BatchStatus.REJECTED else "approved"
        who += f", {verb} by {user(batch.approved_by)}"
    if batch.stopped_by:
        who += f", stopped by {user(batch.stopped_by)}"
    if link:
        where = f"<{link}|the board>"
    elif batch.message_ts:
        where = f"the board in <#{batch.channel_id}> (ts {batch.message_ts})"
    else:
        where = f"<#{batch.channel_id}> (not posted yet)"
    return _section(
        f"`{batch.id}` *{batch.kind.value}* of *{region(batch.region)}* – "
        f"{batch_status(board)}\n{board.totals.summary()}\n{who} · {where}")


def _batches(boards: list[Board], links: Mapping[str, str]) -> list[Block]:
    if not boards:
        return [_section("*Recent regional batches*\nNone yet: "
                         "`/iothub failover --region <region>` starts one.")]
    blocks: list[Block] = [_section("*Recent regional batches*, newest first")]
    blocks += [_batch(b, links.get(b.batch.id)) for b in boards[:MAX_BATCHES]]
    return blocks


_ALL_DRILLS = "… and {n} more: `/iothub drills` lists them all"


def _drills(outlook: DrillOutlook) -> list[Block]:
    """The next drills (soonest first) and each hub's last one (newest first): two sections
    however many there are."""
    if not outlook.next and not outlook.last:
        return [_section("*Drills*\nNone yet: `/iothub drill <hub>` rehearses a failover and "
                         "its failback on a hub marked for drills.")]
    coming = [f"• `{escape(s.hub)}` {when(s.next_at)}"
              + (f", every {humanize(s.every)}" if s.every else ", once")
              + f" · scheduled by {user(s.created_by)}"
              for s in outlook.next if s.next_at is not None]
    blocks: list[Block] = [
        _listing(f"*Next drills*, soonest first ({len(coming)} scheduled)", coming, MAX_DRILLS,
                 _ALL_DRILLS) if coming else
        _section("*Next drills*\nNone scheduled: `/iothub drill <hub> --every 90d` keeps one.")]
    if outlook.last:
        blocks.append(_listing(f"*Last drill of each hub*, newest first "
                               f"({_plural(len(outlook.last), 'hub')})",
                               [_drill_line(r) for r in outlook.last], MAX_DRILLS, _ALL_DRILLS))
    return blocks


def _drill_line(result: DrillResult) -> str:
    drill = result.drill
    parts = [drill.status.value.replace("_", " ")]
    verdicts = [f"{leg} {figures.verdict.replace('_', ' ')}"
                for leg, figures in (("failover", result.failover),
                                     ("failback", result.failback)) if figures.verdict]
    if verdicts:
        parts.append(", ".join(verdicts))
    if result.failover.to_verified_s is not None:
        parts.append(f"failover verified in "
                     f"{took(timedelta(seconds=result.failover.to_verified_s))}")
    return f"• `{escape(drill.hub)}` {when(drill.created_at)}: {' · '.join(parts)}"
