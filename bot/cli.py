"""``failover-bot serve | worker | sandbox | audit | db upgrade | doctor``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from bot.config import ConfigError, Settings, load_settings
from bot.domain.durations import parse_duration
from bot.domain.model import AuditEvent, OperationKind
from bot.store.base import AuditQuery, StoreUnavailable, events_of
from bot.store.migrate import SchemaOutdated

PROG = "failover-bot"


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
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
    sandbox.add_argument("--database", default=None,
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
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, settings)
    except (ConfigError, SchemaOutdated) as exc:
        print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"{PROG}: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot import bootstrap

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
        return bootstrap.serve(settings, port=args.port, with_worker=not args.no_worker)
    if args.command == "worker":
        return bootstrap.run_worker(settings)
    if args.command == "sandbox":
        from bot.sandbox.run import run_sandbox

        return run_sandbox(settings, port=args.port, speed=args.speed,
                           database_url=args.database, open_browser=not args.no_browser)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return run_doctor(settings, sys.stdout)
    raise AssertionError(args.command)


def _audit(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from bot.store.migrate import ensure_schema, missing_sqlite_file
    from bot.store.sql import SqlUnitOfWork, session_factory

    url = settings.database_url.get_secret_value()
    missing = missing_sqlite_file(url)
    if missing:  # reading must not create an empty database where one was expected
        print(f"{PROG}: no audit database at {missing} (set DATABASE_URL)", file=sys.stderr)
        return 1
    ensure_schema(url)
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
        "detail": json.dumps(event.detail, sort_keys=True) if event.detail else "",
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
