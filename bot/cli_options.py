"""How ``failover-bot`` reads its options: each bad value is one line naming the option and
what it accepts, exit status 2, before anything is opened (never a traceback, and never a
value the database or the network cannot take)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import NoReturn

from bot.domain.batch import BATCH_ID_USAGE, WELL_FORMED_BATCH_ID
from bot.domain.durations import parse_duration
from bot.domain.model import events_of
from bot.store.base import MAX_AUDIT_LIMIT

PORTS = range(1, 65536)
MAX_DRILL_LIMIT = 100_000


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, and where help is), exit 2:
    argparse's own puts the whole usage first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def moment(text: str) -> datetime:
    """``7d``/``12h``/``90`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    usage = "use a duration like 7d, 12h, 30m or a date like 2026-11-01"
    try:
        ago = parse_duration(text)
    except ValueError:
        ago = None
    try:
        if ago is not None:
            return datetime.now(UTC) - ago
        at = datetime.fromisoformat(text)
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid time {text!r}: {usage}") from None
    except OverflowError:  # before the year 1, or after 9999 once in UTC
        raise argparse.ArgumentTypeError(f"invalid time {text!r}: out of range; {usage}, "
                                         "or leave the option out") from None


def audit_limit(text: str) -> int:
    """A count of audit events the store can be asked for (``AuditQuery`` checks it too)."""
    limit = _integer(text)
    if limit is None or not 1 <= limit <= MAX_AUDIT_LIMIT:
        raise argparse.ArgumentTypeError(
            f"invalid limit {text[:30]!r}: use a number from 1 to {MAX_AUDIT_LIMIT:,}")
    return limit


def drill_limit(text: str) -> int:
    limit = _integer(text)
    if limit is None or not 1 <= limit <= MAX_DRILL_LIMIT:
        raise argparse.ArgumentTypeError(
            f"invalid limit {text[:30]!r}: use a number from 1 to {MAX_DRILL_LIMIT:,}")
    return limit


def tcp_port(text: str) -> int:
    port = _integer(text)
    if port is None or port not in PORTS:
        raise argparse.ArgumentTypeError(
            f"invalid port {text[:20]!r}: use a number from 1 to 65535")
    return port


def statuses(text: str) -> frozenset[str]:
    try:
        return frozenset(a.value for a in events_of(text.split(",")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def batch_id(text: str) -> str:
    if not WELL_FORMED_BATCH_ID.fullmatch(text.lower()):
        raise argparse.ArgumentTypeError(f"invalid batch id {text!r}: "
                                         f"{BATCH_ID_USAGE.replace('`', '')}")
    return text.lower()


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
