"""Observability: Prometheus metrics, JSON logs with secrets redacted, request ids.

Nothing here opens a connection or builds a global registry at import; ``Metrics()`` and
``configure_logging()`` are called from ``main()``/``bootstrap()``.
"""

from bot.telemetry.context import bind_request_id, current_request_id
from bot.telemetry.logs import (
    JsonFormatter,
    RedactingFilter,
    configure_logging,
    hold_start_up_logs,
    release_start_up_logs,
)
from bot.telemetry.metrics import Metrics, render_latest
from bot.telemetry.redaction import Redactor

__all__ = [
    "JsonFormatter",
    "Metrics",
    "RedactingFilter",
    "Redactor",
    "bind_request_id",
    "configure_logging",
    "current_request_id",
    "hold_start_up_logs",
    "release_start_up_logs",
    "render_latest",
]
