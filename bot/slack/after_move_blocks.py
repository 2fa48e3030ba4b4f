"""After a move, in the request's thread: the verdict (a sentence with its figures and a
sparkline of connected devices) and each consumer's restart. Azure's words and names from
the hub's tags are escaped: nothing here becomes a mention or a link."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.consumer_action import ConsumerAction
from bot.domain.consumer_results import RestartOutcome
from bot.domain.consumers import HubConsumers, plan_sentence
from bot.domain.verification_state import VerifyStatus
from bot.notifications import VerdictReport
from bot.slack.text import clip, escape

_ICONS = {VerifyStatus.VERIFIED: ":white_check_mark:",
          VerifyStatus.NOT_RECOVERED: ":warning:",
          VerifyStatus.UNVERIFIED: ":grey_question:"}
SECTION_LIMIT = 3000


def needs_attention(report: VerdictReport) -> bool:
    """Told to the whole channel, not only the thread: a move that is not known to be fine
    must not look green from the channel."""
    return report.verification.status is not VerifyStatus.VERIFIED


def verdict_text(report: VerdictReport) -> str:
    request = report.request
    return f"{request.hub.name}: {report.words}"


def verdict_blocks(report: VerdictReport) -> list[Block]:
    verification = report.verification
    icon = _ICONS.get(verification.status, ":hourglass:")
    label, _, rest = report.words.partition(":")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=clip(f"{icon} *{escape(label)}*:{escape(rest)}", SECTION_LIMIT)))]
    if verification.status is VerifyStatus.NOT_RECOVERED:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(
            f"What to look at: devices whose SDK retry gave up or whose DNS or private "
            f"endpoint still resolves the old region, and the consumers of the new Event Hub-"
            f"compatible endpoint. `/iothub status {report.request.hub.name}` shows the hub.",
            SECTION_LIMIT))))
    notes = []
    if report.picture:
        notes.append(f"Connected devices, a minute a character, from before the "
                     f"{report.request.kind.value}: `{report.picture}`")
    notes.append(f"From Azure Monitor's own minutes ({verification.reads} metric reads).")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(n, SECTION_LIMIT))
                                         for n in notes]))
    return blocks


def consumer_text(action: ConsumerAction) -> str:
    icon = ":arrows_counterclockwise:" if action.outcome is RestartOutcome.RESTARTED \
        else ":warning:"
    sentence = action.sentence[:1].upper() + action.sentence[1:]
    return clip(f"{icon} {escape(sentence)}", SECTION_LIMIT)


def plan_blocks(declared: HubConsumers | None, *, approving: bool) -> list[Block]:
    """What the bot will do to the hub's consumers after the move (the dialog and the
    approval message): approving the request approves it."""
    sentence = plan_sentence(declared) if declared is not None else None
    if sentence is None or declared is None:
        return []
    approval = (" Approving this request approves these restarts."
                if approving and declared.to_restart else "")
    text = f":arrows_counterclockwise: *After the move*: {escape(sentence)}.{approval}"
    return [SectionBlock(block_id="consumers", text=MarkdownTextObject(
        text=clip(text, SECTION_LIMIT)))]
