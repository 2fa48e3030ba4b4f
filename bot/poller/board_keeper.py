"""The board keeper: each round, edit the boards of running batches, within Slack's limits.

A batch's hubs are not announced one by one (a thousand hubs would be a thousand threads):
their board, one message, is edited in place when what it shows changes — at most once per
``EDIT_INTERVAL`` per board, and within the budget the requests' messages share
(``RateLimitedNotifier.spend``). A failed hub gets its own reply under the board. One
replica keeps each board at a time (a lease on the batch); what the board last showed is
stored, so a restarted keeper neither repeats an edit nor misses one.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain.clock import Clock
from bot.poller.ratelimit import RateLimitedNotifier
from bot.service.boards import Board, BoardNotifier, Boards

log = logging.getLogger(__name__)

EDIT_INTERVAL = timedelta(seconds=5)  # one board, at most this often
REFRESH = timedelta(minutes=1)  # while hubs run, elapsed times are refreshed this often
LEASE = timedelta(seconds=30)
# How long the listener that recorded a batch has to post its approval message before the
# keeper does (it failed, or its process died).
POST_GRACE = timedelta(seconds=60)


class BoardKeeper:
    def __init__(self, boards: Boards, notifier: BoardNotifier, budget: RateLimitedNotifier,
                 clock: Clock, owner: str) -> None:
        self._boards, self._notifier, self._budget = boards, notifier, budget
        self._clock, self._owner = clock, owner
        self.edits = 0  # board edits made by this keeper (metrics, benchmarks)

    def keep(self) -> int:
        """Edit what is due; returns how many boards were edited."""
        edited = 0
        for batch in self._boards.claim(self._owner, LEASE):
            board = self._boards.board(batch.id)
            if board is None or (board.batch.message_ts is None
                                 and self._clock.now() - batch.created_at < POST_GRACE):
                continue  # not posted yet: the submission posts it, or after the grace we do
            try:
                edited += self._keep(board)
            except Exception as exc:  # Slack said no: the next round tries again
                log.warning("board of %s not edited (%s)", batch.id, type(exc).__name__)
        return edited

    def _keep(self, board: Board) -> int:
        now = self._clock.now()
        digest, edited_at = self._boards.last_shown(board.batch.id)
        if edited_at is not None and now - edited_at < EDIT_INTERVAL:
            return 0
        # Failure replies go under the board: not before it is posted.
        untold = self._tell_failures(board) if board.batch.message_ts else False
        on_screen = digest == board.digest() and not untold
        stale = (board.totals.running > 0 and edited_at is not None
                 and now - edited_at >= REFRESH)
        channel = board.batch.channel_id
        edited = 0
        if not on_screen or stale:
            if not self._budget.spend(channel, updates=1):
                return 0
            self._notifier.show_board(board)
            self.edits += 1
            edited = 1
        elif not board.finished:
            return 0
        # The closing reply once every hub has ended and every failure has been told.
        done = (board.finished and not self._boards.untold_failures(board)
                and self._budget.spend(channel, posts=1))
        if done:
            self._notifier.finished(board)
        self._boards.shown(board, self._owner, finished=done)
        return edited

    def _tell_failures(self, board: Board) -> bool:
        """Reply for each failed hub not told yet (as the budget allows); ``True`` if any."""
        told = False
        for request in self._boards.untold_failures(board):
            if not self._budget.spend(board.batch.channel_id, posts=1):
                break
            self._notifier.failure(board, request)
            self._boards.failure_told(request)
            told = True
        return told

