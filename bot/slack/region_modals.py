"""The regional dialog (``/iothub failover --region``) and its loading, refusal and result
states (pure builders).

A view holds at most 100 blocks, a section 3000 characters and a multi-select 100 options: the
hub lines are grouped into a few sections (eligible ones first, then the first ineligible ones
with their reasons, the rest counted), and past 100 eligible hubs the choice is "all eligible
hubs" with an exclusion list instead of one option per hub.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.batch import Candidate
from bot.domain.durations import humanize
from bot.domain.model import OperationKind
from bot.domain.regions import display_name
from bot.domain.rules import Refusal
from bot.domain.user_text import LIST_CHARS, REASON_CHARS
from bot.service import BatchSubmitted, RegionPreview
from bot.slack.text import clip, escape, grouped, region, said, when, when_allowed

REGION_CALLBACK_ID = "region_confirm"
HUBS_INPUT = "hubs"  # block_id and action_id (contract): the hubs chosen, or "all eligible"
EXCLUDE_INPUT = "exclude"  # past 100 eligible hubs: the ones to leave out
REGION_INPUT = "confirm_region"  # block_id and action_id (contract)
REASON_INPUT = "reason"  # block_id and action_id (contract)
ALL_ELIGIBLE = "all_eligible"  # the value of the one "all eligible hubs" checkbox

MAX_OPTIONS = 100  # Slack's limit for a multi-select
ELIGIBLE_LINES = 40  # hub lines listed in the dialog, the rest counted
INELIGIBLE_LINES = 40
SECTION_CHARS = 3000


@dataclass(frozen=True)
class RegionContext:
    """What the dialog carries to its submission (private_metadata)."""

    region: str  # the region key
    kind: OperationKind
    channel: str
    all_eligible: bool = False  # past 100 eligible hubs: "all" and an exclusion list

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> RegionContext:
        """Raises ValueError on anything that is not what :meth:`dump` wrote."""
        try:
            data = json.loads(raw)
            return cls(str(data["region"]), OperationKind(data["kind"]), str(data["channel"]),
                       bool(data.get("all_eligible", False)))
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError,
                RecursionError) as exc:
            raise ValueError("unreadable regional dialog metadata") from exc

    @property
    def display(self) -> str:
        return display_name(self.region)


@dataclass(frozen=True)
class Typed:
    """What was in the dialog when its submission was refused: shown again, to correct."""

    reason: str = ""
    region: str = ""
    exclude: str = ""
    hubs: frozenset[str] = field(default_factory=frozenset)  # chosen, lower case


def _title(kind: OperationKind) -> str:
    return "Regional failover" if kind is OperationKind.FAILOVER else "Regional failback"


def _notice(context: RegionContext, blocks: list[Block], close: str = "Close") -> View:
    return View(type="modal", callback_id=REGION_CALLBACK_ID, title=_title(context.kind),
                close=close, blocks=blocks, private_metadata=context.dump())


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=clip(text, SECTION_CHARS))


def region_loading(context: RegionContext) -> View:
    where = "active in" if context.kind is OperationKind.FAILOVER else "whose home is"
    return _notice(context, [_section(
        f":hourglass_flowing_sand: Reading every IoT Hub {where} {context.display} from "
        "Azure…")], close="Cancel")


def region_recording(context: RegionContext) -> View:
    return _notice(context, [_section(
        f":hourglass_flowing_sand: Recording the batch for {context.display}…")])


def region_error(context: RegionContext, message: str) -> View:
    return _notice(context, [_section(f":warning: {said(message)}")])


def region_refusal(context: RegionContext, refusal: Refusal) -> View:
    verb = "fail over" if context.kind is OperationKind.FAILOVER else "fail back"
    blocks: list[Block] = [_section(f":no_entry: I can't {verb} the hubs of "
                                    f"{context.display}.\n{said(refusal.message)}")]
    if refusal.allowed_at:
        blocks.append(_context(f"Allowed again from {when_allowed(refusal.allowed_at)}."))
    blocks.append(_context("Nothing was started."))
    return _notice(context, blocks)


def region_submitted(context: RegionContext, submitted: BatchSubmitted,
                     post_error: str | None = None) -> View:
    batch = submitted.batch
    hubs = f"{len(submitted.members)} hub{'s' if len(submitted.members) != 1 else ''}"
    if batch.approved_by:
        text = (f":white_check_mark: Batch `{batch.id}` of {hubs} was approved "
                f"automatically; they start one after another. Follow its board in "
                f"<#{batch.channel_id}>.")
    else:
        text = (f":white_check_mark: Batch `{batch.id}` of {hubs} is waiting for approval "
                f"in <#{batch.channel_id}>. It expires {when(batch.expires_at)}.")
    blocks: list[Block] = [_section(text)]
    if submitted.left_out:
        lines = [f"• `{escape(clip(hub, 60))}`: {escape(clip(why, 200)) or 'not eligible'}"
                 for hub, why in submitted.left_out[:INELIGIBLE_LINES]]
        more = len(submitted.left_out) - INELIGIBLE_LINES
        if more > 0:
            lines.append(f"…and {more:,} more")
        blocks += _grouped(["*Left out:*", *lines])
    if post_error:
        blocks.append(_section(
            f":warning: I could not post in <#{batch.channel_id}> (`{post_error}`); invite me "
            "with `/invite @failover-bot` and ask again."))
    return _notice(context, blocks)


def candidate_line(candidate: Candidate, now: datetime) -> str:
    hub = candidate.hub
    name = f"`{escape(hub.name)}`" + (f" :star: priority {hub.priority}"
                                      if hub.priority is not None else "")
    parts = [name, escape(f"{hub.ref.subscription_id[:8]}/{hub.ref.resource_group}"),
             f"{hub.device_count:,} devices" if hub.device_count is not None
             else "devices unknown"]
    if not candidate.eligible:
        why = escape(clip(candidate.reason or "", 300))  # may quote Azure's words
        if candidate.allowed_at is not None:
            why += f"; allowed again from {when_allowed(candidate.allowed_at)}"
        return ":no_entry: " + " · ".join([*parts, f"not eligible: {why}"])
    parts.append(f"→ {region(hub.target_region)}")
    if candidate.estimate_s is not None:
        parts.append(f"~{humanize(timedelta(seconds=candidate.estimate_s))}")
    if candidate.quota_left is not None:
        parts.append(f"{candidate.quota_left} left today")
    allowed = candidate.failback_allowed_at
    if allowed is not None and allowed > now:
        parts.append(f"cool-down: starts at {when_allowed(allowed, '{time}')}")
    return ":white_check_mark: " + " · ".join(parts)


def _lines(candidates: list[Candidate], now: datetime, limit: int, rest: str) -> list[str]:
    lines = [candidate_line(c, now) for c in candidates[:limit]]
    if len(candidates) > limit:
        lines.append(f"…and {len(candidates) - limit:,} more {rest}")
    return lines


def _grouped(lines: list[str]) -> list[Block]:
    return [SectionBlock(text=text) for text in grouped(lines, SECTION_CHARS)]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_CHARS))])


def _option(candidate: Candidate) -> Option:
    devices = candidate.hub.device_count
    label = candidate.hub.name + (f" ({devices:,} devices)" if devices is not None else "")
    return Option(value=candidate.hub.name, text=clip(label, 75))


def _hub_inputs(context: RegionContext, eligible: list[Candidate],
                typed: Typed | None) -> list[Block]:
    if not context.all_eligible:
        options = [_option(c) for c in eligible]
        chosen = [o for o in options if typed is None or str(o.value).lower() in typed.hubs]
        return [InputBlock(block_id=HUBS_INPUT, label="Hubs to move", element=(
            StaticMultiSelectElement(action_id=HUBS_INPUT, placeholder="Choose hubs",
                                     options=options, initial_options=chosen or None)),
            hint="Every eligible hub is chosen; remove the ones to leave where they are.")]
    everything = Option(value=ALL_ELIGIBLE, text=f"All {len(eligible):,} eligible hubs")
    return [
        InputBlock(block_id=HUBS_INPUT, label="Hubs to move", element=CheckboxesElement(
            action_id=HUBS_INPUT, options=[everything], initial_options=[everything])),
        InputBlock(block_id=EXCLUDE_INPUT, label="Leave out", optional=True,
                   hint="Hub names, separated by commas or spaces.",
                   element=PlainTextInputElement(action_id=EXCLUDE_INPUT, multiline=True,
                                                 max_length=LIST_CHARS,
                                                 initial_value=_initial(typed, "exclude"))),
    ]


_LIMITS = {"exclude": LIST_CHARS, "reason": REASON_CHARS, "region": 60}  # as max_length


def _initial(typed: Typed | None, name: str) -> str | None:
    return str(getattr(typed, name))[:_LIMITS[name]] or None if typed else None


def _refused_again(errors: dict[str, str]) -> list[Block]:
    """Why the submission came back (what a list named that it should not), on top."""
    text = "\n".join(f":warning: {said(m)}" for m in errors.values())
    return [_section(text)] if text else []


def region_confirm(context: RegionContext, preview: RegionPreview, now: datetime,
                   typed: Typed | None = None, errors: dict[str, str] | None = None) -> View:
    """The dialog; with ``typed`` and ``errors``, again after a refused submission (its
    inputs as they were, the refusal on top)."""
    eligible = preview.eligible
    others = [c for c in preview.candidates if not c.eligible]
    name = context.display
    if preview.kind is OperationKind.FAILOVER:
        intro = (f"*Fail over the hubs active in {name}* to their paired regions. "
                 f"{len(preview.candidates):,} hubs are active there: "
                 f"{len(eligible):,} eligible, {len(others):,} not.")
    else:
        intro = (f"*Fail back the hubs whose home is {name}* and that are failed over. "
                 f"{len(preview.candidates):,} found: {len(eligible):,} eligible, "
                 f"{len(others):,} not. Hubs inside their cool-down start as soon as it ends.")
    blocks: list[Block] = [
        *_refused_again(errors or {}),
        _section(intro),
        *_grouped(_lines(eligible, now, ELIGIBLE_LINES, "eligible hubs")),
        *_grouped(_lines(others, now, INELIGIBLE_LINES, "hubs not eligible")),
    ]
    if not eligible:
        blocks.append(_context(":no_entry: None of these hubs can be moved now; nothing "
                               "was started."))
        return _notice(context, blocks)
    blocks += [
        _context(":warning: Each hub's *Event Hub-compatible endpoint changes*: consumers "
                 "reading telemetry from it must be given the new one. Hubs start one after "
                 "another once a second person approves."),
        *_hub_inputs(context, eligible, typed),
        InputBlock(block_id=REASON_INPUT, label="Reason or incident link",
                   element=PlainTextInputElement(action_id=REASON_INPUT, multiline=True,
                                                 max_length=REASON_CHARS,
                                                 initial_value=_initial(typed, "reason"))),
        InputBlock(block_id=REGION_INPUT, label="Type the region name to confirm",
                   hint=f"Type {name} (or {preview.region}).",
                   element=PlainTextInputElement(action_id=REGION_INPUT,
                                                 max_length=_LIMITS["region"],
                                                 initial_value=_initial(typed, "region"))),
    ]
    submit = "Request failover" if preview.kind is OperationKind.FAILOVER \
        else "Request failback"
    return View(type="modal", callback_id=REGION_CALLBACK_ID, title=_title(preview.kind),
                submit=submit, close="Cancel", blocks=blocks, private_metadata=context.dump())


def needs_all_eligible(preview: RegionPreview) -> bool:
    """Past Slack's 100 options: "all eligible hubs" and an exclusion list."""
    return len(preview.eligible) > MAX_OPTIONS
