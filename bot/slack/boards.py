"""The BoardNotifier port for Slack: a batch's one message (its approval message, then its
board), edited in place, and the replies in its thread."""

from __future__ import annotations

import threading
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


class BoardLedger(Protocol):
    def attach_message(self, batch_id: str, message_ts: str) -> None:
        """Remember where a batch's board is (``bot.service.boards.Boards``)."""
        ...


class SlackBoardNotifier:
    """Posts a batch's message once, then edits it; a Slack error propagates, so the
    caller (the board keeper, or a listener telling its user) can try again."""

    def __init__(self, client: WebClient, ledger: BoardLedger) -> None:
        self._client, self._ledger = client, ledger
        self._lock = threading.Lock()
        self._posting: dict[str, threading.Lock] = {}
        self._posted: dict[str, str] = {}  # batch id -> ts, until the store has it

    def show_board(self, board: Board) -> None:
        batch = board.batch
        blocks, text = board_blocks(board), board_text(board)
        # The submission and an early click may both show it: one posts, under its lock.
        with self._batch_lock(batch.id):
            ts = batch.message_ts or self._posted.get(batch.id)
            if ts:
                self._client.chat_update(channel=batch.channel_id, ts=ts, blocks=blocks,
                                         text=text)
            else:
                response = self._client.chat_postMessage(channel=batch.channel_id,
                                                         blocks=blocks, text=text)
                ts = str(response["ts"])
                with self._lock:
                    self._posted[batch.id] = ts
                self._ledger.attach_message(batch.id, ts)

    def failure(self, board: Board, request: FailoverRequest) -> None:
        self._client.chat_postMessage(channel=board.batch.channel_id,
                                      thread_ts=self._thread(board), text=failure_text(request),
                                      blocks=failure_blocks(board, request))

    def finished(self, board: Board) -> None:
        thread = self._thread(board)
        self._client.chat_postMessage(channel=board.batch.channel_id, thread_ts=thread,
                                      text=finished_text(board), reply_broadcast=bool(thread))
        self._forget(board.batch.id)

    def _thread(self, board: Board) -> str | None:
        return board.batch.message_ts or self._posted.get(board.batch.id)

    def _batch_lock(self, batch_id: str) -> threading.Lock:
        with self._lock:
            return self._posting.setdefault(batch_id, threading.Lock())

    def _forget(self, batch_id: str) -> None:
        """A finished board needs nothing kept here (the process runs for months); a retry
        reads the batch, with its ts, from the store."""
        with self._lock:
            self._posted.pop(batch_id, None)
            self._posting.pop(batch_id, None)
