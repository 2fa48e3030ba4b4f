"""failover-bot: Slack chat-ops for Azure IoT Hub manual failover.

Exit status: 0 done, 1 a dependency (database, Slack) could not be reached, 2 bad input or
configuration. Every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from bot.config import ConfigError, Settings, check_database_url, load_settings
from bot.domain.audit_words import detail_words, plain_mentions
from bot.domain.durations import parse_duration
from bot.domain.model import AuditEvent, OperationKind
from bot.store.base import AuditQuery, StoreUnavailable, events_of
from bot.store.migrate import SchemaOutdated
from bot.telemetry import hold_start_up_logs, release_start_up_logs
from bot.telemetry.redaction import Redactor, SecretLike

PROG = "failover-bot"
log = logging.getLogger(__name__)


def _since(text: str) -> datetime:
    """``7d``/``12h``/``90`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use a duration like 7d, 12h, 30m or a date like 2026-11-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _statuses(text: str) -> frozenset[str]:
    try:
        return frozenset(a.value for a in events_of(text.split(",")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _database(text: str) -> str:
    try:
        return check_database_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bot (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default: PORT or 3000)")
    serve.add_argument("--no-worker", action="store_true",
                       help="do not run the progress poller in this process")

    sub.add_parser("worker", help="run only the progress poller")

    sandbox = sub.add_parser("sandbox",
                             help="the whole bot with a local Slack and a simulated fleet")
    sandbox.add_argument("--port", type=int, default=8000, help="web console port (default 8000)")
    sandbox.add_argument("--speed", type=float, default=60.0,
                         help="how many times faster than real Azure the fleet fails over")
    sandbox.add_argument("--database", default=None, type=_database,
                         help="SQLAlchemy URL (default: a SQLite file in a temporary folder)")
    sandbox.add_argument("--no-browser", action="store_true", help="do not open a browser")

    audit = sub.add_parser("audit", help="query the audit log")
    audit.add_argument("--hub")
    audit.add_argument("--user", help="Slack user id of the actor")
    audit.add_argument("--since", type=_since, help="e.g. 7d, 12h or 2026-11-01")
    audit.add_argument("--until", type=_since, help="e.g. 1d or 2026-11-02")
    audit.add_argument("--kind", choices=[k.value for k in OperationKind])
    audit.add_argument("--status", type=_statuses,
                       help="event names, comma-separated (requested, approved, refused, …)")
    audit.add_argument("--request", help="a request id")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--format", choices=["table", "csv", "json"], default="table")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest")
    db_sub.add_parser("current", help="print the applied migration")

    sub.add_parser("doctor", help="check configuration, database, Slack and Azure")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. A failure is one line on stderr and an exit status, never a traceback:
    2 for bad configuration (the line names the variable), 1 for a dependency that did not
    answer (the line names it and the cause)."""
    from bot.slack.client import SlackUnavailable

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", 2)
    secrets = (settings.slack_bot_token, settings.slack_signing_secret,
               settings.slack_app_token, settings.database_url)
    if args.command == "serve":
        hold_start_up_logs()  # serve releases them once its start-up checks have passed
    try:
        return _dispatch(args, settings)
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", 2, secrets)
    except SchemaOutdated as exc:
        return _fail(str(exc), 2, secrets)
    except (StoreUnavailable, SlackUnavailable) as exc:
        return _fail(str(exc), 1, secrets)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: still one line
        log.debug("unexpected failure", exc_info=True)  # the traceback, for BOT_LOG_LEVEL=DEBUG
        return _fail(f"unexpected error: {type(exc).__name__}: {exc}", 1, secrets)


def _fail(message: str, status: int, secrets: Sequence[SecretLike] = ()) -> int:
    # What led to a failed start-up is only worth the terminal when asked for (DEBUG).
    release_start_up_logs(emit=logging.getLogger().isEnabledFor(logging.DEBUG))
    line = " ".join(message.split())  # drivers' messages span lines
    print(f"{PROG}: {Redactor(secrets).redact(line)}", file=sys.stderr)
    return status


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot import serve

    if args.command == "audit":
        return _audit(args, settings, sys.stdout)
    if args.command == "db":
        from bot.store import migrate

        url = settings.database_url.get_secret_value()
        if args.db_command == "upgrade":
            migrate.upgrade(url)
            print(f"database at revision {migrate.current_revision(url)}")
        else:
            print(migrate.current_revision(url) or "empty")
        return 0
    if args.command == "serve":
        return serve.serve(settings, port=args.port, with_worker=not args.no_worker)
    if args.command == "worker":
        return serve.run_worker(settings)
    if args.command == "sandbox":
        from bot.sandbox.run import run_sandbox

        return run_sandbox(settings, port=args.port, speed=args.speed,
                           database_url=args.database, open_browser=not args.no_browser)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return run_doctor(settings, sys.stdout)
    raise AssertionError(args.command)


def _audit(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from bot.store.migrate import missing_sqlite_file, require_schema
    from bot.store.sql import SqlUnitOfWork, session_factory

    url = settings.database_url.get_secret_value()
    missing = missing_sqlite_file(url)
    if missing:  # reading must not create an empty database where one was expected
        print(f"{PROG}: no audit database at {missing} (set DATABASE_URL)", file=sys.stderr)
        return 1
    require_schema(url)  # reading never migrates: that is `db upgrade`'s job
    query = AuditQuery(
        hub=args.hub, user=args.user, since=args.since, until=args.until,
        kind=OperationKind(args.kind) if args.kind else None,
        actions=events_of(sorted(args.status)) if args.status else frozenset(),
        request_id=args.request, limit=args.limit,
    )
    factory = session_factory(url)
    with SqlUnitOfWork(factory) as uow:
        events = uow.events.search(query)
    write_events(events, args.format, out)
    return 0


COLUMNS = ["at", "action", "hub", "kind", "actor", "request_id", "detail"]


def _row(event: AuditEvent) -> dict[str, str]:
    return {
        "at": event.at.astimezone(UTC).isoformat(timespec="seconds"),
        "action": event.action.value,
        "hub": event.hub or "",
        "kind": event.kind.value if event.kind else "",
        "actor": event.actor,
        "request_id": event.request_id or "",
        # Words for people (no reason codes, no Slack markup); JSON keeps the raw detail.
        "detail": plain_mentions(detail_words(event)),
    }


def write_events(events: Sequence[AuditEvent], fmt: str, out: TextIO) -> None:
    rows = [_row(e) for e in events]
    if fmt == "json":
        json.dump([{**r, "detail": e.detail} for r, e in zip(rows, events, strict=True)],
                  out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        if not rows:
            out.write("no audit events match\n")
            return
        widths = {c: min(60, max(len(c), *(len(r[c]) for r in rows))) for c in COLUMNS}
        out.write("  ".join(c.upper().ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")
        for r in rows:
            out.write("  ".join(r[c][: widths[c]].ljust(widths[c]) for c in COLUMNS).rstrip()
                      + "\n")
