"""The confirmation modal and its loading, refusal and result states (pure builders)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.durations import humanize
from bot.domain.limit_warnings import speed_note
from bot.domain.model import OperationKind
from bot.domain.request import FailoverRequest
from bot.domain.rules import Refusal
from bot.domain.user_text import REASON_CHARS
from bot.service import Preview
from bot.slack.after_move_blocks import plan_blocks
from bot.slack.running import nothing_started, running_blocks
from bot.slack.text import clip, region, said, when, when_allowed

CALLBACK_ID = "failover_confirm"
NAME_INPUT = "confirm_hub_name"  # block_id and action_id (contract)
REASON_INPUT = "reason"  # block_id and action_id (contract)


@dataclass(frozen=True)
class ModalContext:
    """What the modal carries from the slash command to the submission (private_metadata)."""

    hub: str
    kind: OperationKind
    channel: str
    active: str = ""  # the active region the user saw; a change since then voids the request
    drill: bool = False  # the dialog of a drill (its failover leg), not of a failover

    def dump(self) -> str:
        values = asdict(self)
        if not self.drill:
            values.pop("drill")
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> ModalContext:
        """Raises ValueError on anything that is not what :meth:`dump` wrote."""
        try:
            data = json.loads(raw)
            return cls(str(data["hub"]), OperationKind(data["kind"]), str(data["channel"]),
                       str(data.get("active", "")), data.get("drill") is True)
        except (TypeError, KeyError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError("unreadable modal metadata") from exc


def _title(kind: OperationKind) -> str:
    return "Fail over IoT Hub" if kind is OperationKind.FAILOVER else "Fail back IoT Hub"


def _verb(kind: OperationKind) -> str:
    return "fail over" if kind is OperationKind.FAILOVER else "fail back"


def _notice(context: ModalContext, blocks: list[Block], close: str = "Close") -> View:
    return View(type="modal", callback_id=CALLBACK_ID, title=_title(context.kind), close=close,
                blocks=blocks, private_metadata=context.dump())


def loading_modal(context: ModalContext) -> View:
    text = f":hourglass_flowing_sand: Reading the live state of `{context.hub}` from Azure…"
    return _notice(context, [SectionBlock(text=text)], close="Cancel")


def submitting_modal(context: ModalContext) -> View:
    text = f":hourglass_flowing_sand: Recording the request for `{context.hub}`…"
    return _notice(context, [SectionBlock(text=text)])


def refusal_modal(context: ModalContext, refusal: Refusal, now: datetime | None = None,
                  link: str | None = None, estimate: timedelta | None = None) -> View:
    if refusal.request is not None:  # an operation is running or open on this hub: say so
        return _notice(context, [*running_blocks(refusal.request, now, estimate, link),
                                 nothing_started()])
    blocks: list[Block] = [SectionBlock(
        text=clip(f":no_entry: I can't {_verb(context.kind)} `{context.hub}`.\n"
                  f"{said(refusal.message)}", 3000))]
    if refusal.allowed_at:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Allowed again from {when_allowed(refusal.allowed_at)}.")]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing was started.")]))
    return _notice(context, blocks)


def error_modal(context: ModalContext, message: str) -> View:
    return _notice(context, [SectionBlock(text=clip(f":warning: {said(message)}", 3000))])


def submitted_modal(context: ModalContext, request: FailoverRequest,
                    post_error: str | None = None) -> View:
    if request.approved_by:
        text = (f":white_check_mark: Request `{request.id}` was approved automatically; "
                f"I am starting it and will report in <#{request.channel_id}>.")
    else:
        text = (f":white_check_mark: Request `{request.id}` is waiting for approval in "
                f"<#{request.channel_id}>. It expires {when(request.expires_at)}.")
    blocks: list[Block] = [SectionBlock(text=text)]
    if post_error:
        blocks.append(SectionBlock(text=clip(
            f":warning: I could not post in <#{request.channel_id}> (`{post_error}`); invite "
            f"me with `/invite @failover-bot`, or cancel with `/iothub cancel {request.id}`.",
            3000)))
    return _notice(context, blocks)


def _quota_source(preview: Preview) -> list[Block]:
    """Where today's count comes from (this bot, the portal…), or that only the bot's own
    records could be counted."""
    kind = preview.kind.value.capitalize()
    if preview.history_note:
        text = (f":warning: {kind}s left today: {preview.quota_left} of {preview.quota_limit}"
                f" — {preview.quota_detail or preview.history_note}.")
    elif preview.quota_detail:
        text = (f"{kind}s left today: {preview.quota_left} of {preview.quota_limit} — "
                f"{preview.quota_detail}.")
    else:
        return []
    return [ContextBlock(elements=[MarkdownTextObject(text=clip(text, 3000))])]


def _speed_note(time_scale: float) -> list[Block]:
    note = speed_note(time_scale)
    return [ContextBlock(elements=[MarkdownTextObject(text=f":stopwatch: {note}")])] if note else []


def confirm_modal(context: ModalContext, preview: Preview, time_scale: float = 1.0) -> View:
    hub = preview.hub
    devices = f"{hub.device_count:,}" if hub.device_count is not None else "unknown"
    cooldown = (f"failback possible from {when_allowed(preview.failback_allowed_at)}"
                if preview.failback_allowed_at else "none")
    blocks: list[Block] = [
        SectionBlock(text=f"*{_verb(preview.kind).capitalize()} `{hub.name}`* "
                          f"from *{region(hub.active_region)}* to *{region(hub.target_region)}*."),
        SectionBlock(fields=[
            MarkdownTextObject(text=f"*Current region*\n{region(hub.active_region)}"),
            MarkdownTextObject(text=f"*Target region*\n{region(hub.target_region)}"),
            MarkdownTextObject(text=f"*Devices*\n{devices}"),
            MarkdownTextObject(text=f"*Estimated duration*\n{humanize(preview.estimate)}"),
            MarkdownTextObject(text=f"*{preview.kind.value.capitalize()}s left today*\n"
                                    f"{preview.quota_left} of {preview.quota_limit}"),
            MarkdownTextObject(text=f"*Failback cool-down*\n{cooldown}"),
        ]),
        *_quota_source(preview),
        *_speed_note(time_scale),
        SectionBlock(text=clip(
            ":warning: The *Event Hub-compatible endpoint changes* after this operation: "
            "consumers that read device telemetry from it must be given the new endpoint. "
            f"Current: `{hub.event_hub_endpoint or 'unknown'}`", 3000)),
        *plan_blocks(hub.consumers, approving=True),
        InputBlock(block_id=REASON_INPUT, label="Reason or incident link",
                   element=PlainTextInputElement(action_id=REASON_INPUT, multiline=True,
                                                 max_length=REASON_CHARS)),
        InputBlock(block_id=NAME_INPUT, label="Type the hub name to confirm",
                   hint=f"Type {hub.name} (upper or lower case, as you like).",
                   element=PlainTextInputElement(action_id=NAME_INPUT, max_length=50)),
    ]
    submit = "Request failover" if preview.kind is OperationKind.FAILOVER else "Request failback"
    return View(type="modal", callback_id=CALLBACK_ID, title=_title(preview.kind),
                submit=submit, close="Cancel", blocks=blocks, private_metadata=context.dump())
