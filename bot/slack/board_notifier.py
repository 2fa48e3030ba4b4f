"""The BoardNotifier port for Slack: a batch's one message (its approval message, then its
board), edited in place, and the replies in its thread."""

from __future__ import annotations

from typing import Protocol

from slack_sdk import WebClient

from bot.domain.request import FailoverRequest
from bot.service import Board
from bot.slack.board_blocks import (
    board_blocks,
    board_text,
    failure_blocks,
    failure_text,
    finished_text,
)
from bot.slack.one_message import OneMessage


class BoardLedger(Protocol):
    def attach_message(self, batch_id: str, message_ts: str) -> None:
        """Remember where a batch's board is (``bot.service.boards.Boards``)."""
        ...


class SlackBoardNotifier:
    """Posts a batch's message once, then edits it; a Slack error propagates, so the
    caller (the board keeper, or a listener telling its user) can try again."""

    def __init__(self, client: WebClient, ledger: BoardLedger) -> None:
        self._client, self._ledger = client, ledger
        self._messages = OneMessage(client)

    def show_board(self, board: Board) -> None:
        # The submission and an early click may both show it: one posts.
        batch = board.batch
        self._messages.show(batch.id, batch.channel_id, batch.message_ts,
                            blocks=board_blocks(board), text=board_text(board),
                            remember=lambda ts: self._ledger.attach_message(batch.id, ts))

    def failure(self, board: Board, request: FailoverRequest) -> None:
        self._client.chat_postMessage(channel=board.batch.channel_id,
                                      thread_ts=self._thread(board), text=failure_text(request),
                                      blocks=failure_blocks(board, request))

    def finished(self, board: Board) -> None:
        thread = self._thread(board)
        self._client.chat_postMessage(channel=board.batch.channel_id, thread_ts=thread,
                                      text=finished_text(board), reply_broadcast=bool(thread))
        # A finished board needs nothing kept here; a retry reads its ts from the store.
        self._messages.forget(board.batch.id)

    def _thread(self, board: Board) -> str | None:
        return board.batch.message_ts or self._messages.ts(board.batch.id)
