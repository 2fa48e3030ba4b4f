"""What the listeners share, and the one place that turns failures into a polite answer."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from bot.service import FailoverService
from bot.slack.actors import ActorResolver
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.notifier import SlackNotifier
from bot.store.base import StoreUnavailable

log = logging.getLogger(__name__)

STORE_DOWN = "I could not reach the audit database; nothing was started."


@dataclass(frozen=True)
class ListenerDeps:
    service: FailoverService
    actors: ActorResolver
    notifier: SlackNotifier
    executor: Executor  # work that follows work (filling a dialog in, starting a failover)
    boards: SlackBoardNotifier  # regional batches' boards


def failure_message(exc: BaseException) -> str:
    """What the user sees instead of a stack trace; the log gets the details and a reference."""
    if isinstance(exc, StoreUnavailable):
        log.error("audit database unavailable: %s", exc)
        return STORE_DOWN
    reference = secrets.token_hex(3)
    log.exception("unexpected error (reference %s)", reference)
    return (f"Something went wrong on my side (reference `{reference}`); nothing was started. "
            "Try again, or ask the bot's operators.")


def guarded(answer: Callable[[str], None]) -> Callable[[Callable[[], None]], None]:
    """Run work; on any error, tell the user through ``answer`` and never raise."""

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:
            message = failure_message(exc)
            try:
                answer(message)
            except Exception:
                log.exception("could not tell the user about a failure")

    return run
