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
from datetime import UTC
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol, TextIO

from bot import cli_options as options
from bot.cli_options import OneLineParser, audit_limit, batch_id, moment, statuses, tcp_port
from bot.domain.audit_words import detail_words, plain_mentions
from bot.domain.model import AuditEvent, OperationKind, events_of
from bot.errors import ConfigError
from bot.store.base import MAX_AUDIT_LIMIT, AuditQuery
from bot.telemetry import hold_start_up_logs, release_start_up_logs
from bot.telemetry.redaction import Redactor, SecretLike

if TYPE_CHECKING:
    from bot.config import Settings

PROG = "failover-bot"
log = logging.getLogger(__name__)

# Commands shipped outside the product package register here (pyproject's entry points): the
# bot never imports them. `sandbox` is the sibling package failover_sandbox, in the same wheel
# but left out of the container image.
COMMANDS_GROUP = "failover_bot.commands"
OPTIONAL_COMMANDS = {  # name: (what it does, what provides it)
    "sandbox": ("the whole bot with a local Slack and a simulated fleet",
                "the failover_sandbox package, in the failover-bot wheel but not in the "
                "container image"),
}


class Command(Protocol):
    """A command found through the ``failover_bot.commands`` entry points."""

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, settings: Settings) -> int: ...


def installed_commands() -> tuple[dict[str, Command], dict[str, str]]:
    """The entry points' commands that can be imported, and why the others cannot (the image
    keeps the wheel's entry point but removes the sandbox's package)."""
    found: dict[str, Command] = {}
    unusable: dict[str, str] = {}
    for point in entry_points(group=COMMANDS_GROUP):
        try:
            found[point.name] = point.load()
        except ImportError as exc:
            log.debug("command %s is declared but cannot be imported", point.name, exc_info=True)
            unusable[point.name] = str(exc)
    return found, unusable


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bot (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    serve.add_argument("--port", type=tcp_port, default=None,
                       help="HTTP port (default: PORT or 3000)")
    serve.add_argument("--no-poller", "--no-worker", dest="no_poller", action="store_true",
                       help="run no progress poller here (a `worker` runs it; --no-worker is "
                            "its older name)")

    sub.add_parser("worker", help="run only the progress poller")

    commands, unusable = installed_commands()
    for name, command in commands.items():
        extra = sub.add_parser(name, help=command.help)
        command.add_arguments(extra)
        extra.set_defaults(run_command=command.run)
    for name, (what, _) in OPTIONAL_COMMANDS.items():
        if name not in commands:  # still a command: its failure says what is missing
            missing = sub.add_parser(name, help=f"{what} (not installed)")
            missing.set_defaults(missing=name, why=unusable.get(name))

    audit = sub.add_parser("audit", help="query the audit log")
    audit.add_argument("--hub")
    audit.add_argument("--user", help="Slack user id of the actor")
    audit.add_argument("--since", type=moment, help="e.g. 7d, 12h or 2026-11-01")
    audit.add_argument("--until", type=moment, help="e.g. 1d or 2026-11-02")
    audit.add_argument("--kind", choices=[k.value for k in OperationKind])
    audit.add_argument("--status", type=statuses,
                       help="event names, comma-separated (requested, approved, refused, …)")
    audit.add_argument("--request", help="a request id")
    audit.add_argument("--batch", type=batch_id,
                       help="a regional batch id (fb-…): its own events and its hubs'")
    audit.add_argument("--limit", type=audit_limit, default=100,
                       help=f"at most this many events, newest first (1 to {MAX_AUDIT_LIMIT:,}; "
                            "default 100)")
    audit.add_argument("--format", choices=["table", "csv", "json"], default="table")

    drills = sub.add_parser("drills", help="drill history and recovery times (DR reviews)")
    drills.add_argument("--hub")
    drills.add_argument("--since", type=moment, help="e.g. 30d or 2026-09-01")
    drills.add_argument("--limit", type=options.drill_limit, default=100,
                        help=f"at most this many drills, newest first (1 to "
                             f"{options.MAX_DRILL_LIMIT:,}; default 100)")
    drills.add_argument("--format", choices=["table", "csv", "json"], default="table")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations up to the newest")
    db_sub.add_parser("current", help="print the applied migration")

    sub.add_parser("doctor", help="check configuration, database, Slack and Azure")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. A failure is one line on stderr and an exit status, never a traceback:
    2 for bad configuration (the line names the variable), 1 for a dependency that did not
    answer (the line names it and the cause): ``bot.exit_status``."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "missing", None):
        provider = OPTIONAL_COMMANDS[args.missing][1]
        why = f" ({args.why})" if args.why else ""
        return _fail(f"`{args.missing}` is not installed here: it needs {provider}{why}", 2)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "serve":
        return _serve(args)
    from bot.config import load_settings
    from bot.exit_status import failure_line

    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", 2)
    secrets = (settings.slack_bot_token, settings.slack_signing_secret,
               settings.slack_app_token, settings.database_url)
    try:
        return _dispatch(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _fail(*failure_line(exc), secrets)


def _serve(args: argparse.Namespace) -> int:
    """The front reads no settings itself: its work process checks them and says what
    failed, already in one line with the secrets masked."""
    from bot.serve import serve
    from bot.work_start import StartFailed

    hold_start_up_logs()  # released once the start-up checks have passed
    try:
        return serve(port=args.port, with_poller=not args.no_poller)
    except StartFailed as exc:
        return _fail(exc.line, exc.status)
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", 2)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, status: int, secrets: Sequence[SecretLike] = ()) -> int:
    # What led to a failed start-up is only worth the terminal when asked for (DEBUG).
    release_start_up_logs(emit=logging.getLogger().isEnabledFor(logging.DEBUG))
    line = " ".join(message.split())  # drivers' messages span lines
    print(f"{PROG}: {Redactor(secrets).redact(line)}", file=sys.stderr)
    return status


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "audit":
        return _audit(args, settings, sys.stdout)
    if args.command == "drills":
        return _drills(args, settings, sys.stdout)
    if args.command == "db":
        from bot.store import migrate

        url = settings.database_url.get_secret_value()
        if args.db_command == "upgrade":
            migrate.upgrade(url)
            print(f"database at revision {migrate.current_revision(url)}")
        else:
            print(migrate.current_revision(url) or "empty")
        return 0
    if args.command == "worker":
        from bot.roles.worker import run_worker

        return run_worker(settings)
    if getattr(args, "run_command", None):
        status: int = args.run_command(args, settings)
        return status
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return run_doctor(settings, sys.stdout)
    raise AssertionError(args.command)


def _readable(settings: Settings) -> str | None:
    """The database's URL, once there with this version's schema; None (said) if absent."""
    from bot.store.migrate import missing_sqlite_file, require_schema

    url = settings.database_url.get_secret_value()
    missing = missing_sqlite_file(url)
    if missing:  # reading must not create an empty database where one was expected
        print(f"{PROG}: no audit database at {missing} (set DATABASE_URL)", file=sys.stderr)
        return None
    require_schema(url)  # reading never migrates: that is `db upgrade`'s job
    return url


def _drills(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from bot.cli_drills import run_drills
    from bot.store.sql import unit_of_work_factory

    url = _readable(settings)
    return 1 if url is None else run_drills(args, unit_of_work_factory(url), out)


def _audit(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from bot.store.sql import unit_of_work_factory

    url = _readable(settings)
    if url is None:
        return 1
    query = AuditQuery(
        hub=args.hub, user=args.user, since=args.since, until=args.until,
        kind=OperationKind(args.kind) if args.kind else None,
        actions=events_of(sorted(args.status)) if args.status else frozenset(),
        request_id=args.request, batch_id=args.batch, limit=args.limit,
    )
    with unit_of_work_factory(url)() as uow:
        events = uow.events.search(query)
    write_events(events, args.format, out)
    return 0


COLUMNS = ["at", "action", "hub", "kind", "actor", "request_id", "detail", "batch_id"]


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
        "batch_id": event.batch_id or "",  # last: CSV readers by position keep working
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
        # The table keeps the long detail last, and shows a batch column only when needed.
        columns = [c for c in COLUMNS if c != "detail" and (c != "batch_id" or any(
            r["batch_id"] for r in rows))] + ["detail"]
        widths = {c: min(60, max(len(c), *(len(r[c]) for r in rows))) for c in columns}
        out.write("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip() + "\n")
        for r in rows:
            out.write("  ".join(r[c][: widths[c]].ljust(widths[c]) for c in columns).rstrip()
                      + "\n")
