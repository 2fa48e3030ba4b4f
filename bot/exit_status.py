"""One line and an exit status for every failure of a command or of ``serve``'s start-up:
2 for bad input or configuration (the line names the variable), 1 for a dependency that did
not answer (the line names it and the cause). The CLI and the work process (which checks
``serve``'s start-up) both say it this way."""

from __future__ import annotations

import logging

from bot.errors import ConfigError, SchemaOutdated
from bot.slack.client import SlackUnavailable
from bot.store.base import StoreUnavailable

log = logging.getLogger(__name__)

CONFIGURATION, DEPENDENCY = 2, 1


def failure_line(exc: BaseException) -> tuple[str, int]:
    """What to print (before redaction, on one line) and the exit status."""
    if isinstance(exc, ConfigError):
        return f"configuration error: {exc}", CONFIGURATION
    if isinstance(exc, SchemaOutdated):
        return str(exc), CONFIGURATION
    if isinstance(exc, (StoreUnavailable, SlackUnavailable)):
        return str(exc), DEPENDENCY
    # A bug or an unforeseen failure: still one line; the traceback only for DEBUG.
    log.debug("unexpected failure", exc_info=exc)
    return f"unexpected error: {type(exc).__name__}: {exc}", DEPENDENCY
