"""A button's value must belong to the message it was clicked on.

The bot puts a request's id on that request's approval message only, and a batch's id on
that batch's board (and on the replies in its thread). A click whose value names anything
else (a batch member's id on the batch's board, another request's id) was not one of the
bot's buttons as the bot drew them: it is refused, whatever the value would have allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.batch import Batch
from bot.domain.request import FailoverRequest
from bot.domain.rules import Refusal, RefusalReason


@dataclass(frozen=True)
class ClickedMessage:
    """Where a button was clicked: the channel message (and the thread it is a reply in)."""

    channel_id: str
    message_ts: str
    thread_ts: str | None = None


def check_request_button(request: FailoverRequest, clicked: ClickedMessage) -> Refusal | None:
    """The click must be on ``request``'s own approval message."""
    if request.batch_id is not None:
        return Refusal(RefusalReason.WRONG_MESSAGE,
                       f"Request `{request.id}` is one hub of batch `{request.batch_id}`: it "
                       "is decided with its batch, on the batch's board. Nothing was done.")
    if request.message_ts is not None and clicked.channel_id == request.channel_id \
            and clicked.message_ts == request.message_ts:
        return None
    return Refusal(RefusalReason.WRONG_MESSAGE,
                   f"That button does not belong to request `{request.id}`'s approval "
                   "message. Nothing was done; use the buttons on its own message.")


def check_batch_button(batch: Batch, clicked: ClickedMessage, *,
                       in_thread: bool = False) -> Refusal | None:
    """The click must be on ``batch``'s board (or, ``in_thread``, on a reply under it)."""
    on_board = batch.message_ts is not None and clicked.channel_id == batch.channel_id and (
        clicked.message_ts == batch.message_ts
        or (in_thread and clicked.thread_ts == batch.message_ts))
    if on_board:
        return None
    return Refusal(RefusalReason.WRONG_MESSAGE,
                   f"That button does not belong to batch `{batch.id}`'s board. Nothing was "
                   "done; use the buttons on the board.")
