"""One JSON object per log line, secrets masked, the request id attached."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from bot.telemetry.context import current_request_id
from bot.telemetry.redaction import Redactor, SecretLike

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class RedactingFilter(logging.Filter):
    """Masks secrets in the message, its arguments, extra fields and tracebacks.

    Install it on a handler (not a logger) so records propagated from child loggers pass
    through it too. It rewrites the record in place and never drops one.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self._redactor.redact
        record.msg = redact(_message(record))
        record.args = None
        for key in _extra_keys(record):
            setattr(record, key, self._redactor.scrub_field(key, getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """ts, level, logger, message, request_id (when bound), extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id() or getattr(record, "request_id", None)
        if request_id:
            payload["request_id"] = request_id
        for key in _extra_keys(record):
            payload.setdefault(key, getattr(record, key))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        line = json.dumps(payload, default=str, ensure_ascii=False)
        # A lone surrogate (a client's JSON can carry "\ud800") cannot be written as UTF-8:
        # it is logged as its escape, not as a "Logging error" traceback.
        return line if line.isascii() else line.encode("utf-8", "backslashreplace").decode()


def configure_logging(
    level: str | int = "INFO",
    stream: IO[str] | None = None,
    *,
    secrets: Iterable[SecretLike] = (),
) -> logging.Handler:
    """Send every log record, as JSON lines, to ``stream`` (stderr by default).

    ``secrets`` are the values to mask wherever they appear (tokens, signing secret,
    database URL); ``SecretStr``-like objects are accepted. Calling it again replaces the
    handler it installed before. Returns the handler, so a caller can remove it.
    """
    root = logging.getLogger()
    root.setLevel(_level(level))
    for handler in list(root.handlers):
        if getattr(handler, "_failover_bot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    handler._failover_bot = True  # type: ignore[attr-defined]
    hold = _start_up_hold()
    if hold is not None:
        hold.target = handler  # goes live when start-up is over
    else:
        root.addHandler(handler)
    return handler


class _StartUpHold(logging.Handler):
    """Keeps the records of a start-up until it has succeeded (see ``hold_start_up_logs``)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.target: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def hold_start_up_logs() -> None:
    """Hold log records back until ``release_start_up_logs``: a start-up that fails is then
    one line on stderr (the caller's), not that line after the JSON lines of what led to it."""
    if _start_up_hold() is None:
        logging.getLogger().addHandler(_StartUpHold())


def release_start_up_logs(*, emit: bool = True) -> None:
    """Start-up is over: the handler ``configure_logging`` installed goes live, and writes the
    held records first (``emit=False`` drops them: the failure was said in one line)."""
    hold = _start_up_hold()
    if hold is None:
        return
    root = logging.getLogger()
    root.removeHandler(hold)
    if hold.target is not None:
        if emit:
            for record in hold.records:
                hold.target.handle(record)
        root.addHandler(hold.target)


def _start_up_hold() -> _StartUpHold | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, _StartUpHold)), None)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    resolved = logging.getLevelNamesMapping().get(level.strip().upper())
    if resolved is None:
        raise ValueError(f"unknown log level {level!r}")
    return resolved


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        # Bad %-arguments: keep what was said rather than losing the line.
        return f"{record.msg} {record.args!r}"


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [key for key in vars(record) if key not in _RECORD_ATTRIBUTES and key != "request_id"]
