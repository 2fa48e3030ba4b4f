"""``failover-bot sandbox``: the command as ``bot.cli`` finds it, through the
``failover_bot.commands`` entry point. Light to import: the sandbox loads when it runs."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from bot.cli_options import tcp_port

if TYPE_CHECKING:
    from bot.config import Settings


def _database(text: str) -> str:
    from bot.config import check_database_url  # only when the sandbox runs: `serve` stays light

    try:
        return check_database_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _console_port(text: str) -> int:
    port = tcp_port(text)
    if port == 65535:  # the bot listens on the next one
        raise argparse.ArgumentTypeError("invalid port '65535': the bot's own server takes "
                                         "--port + 1; use a number from 1 to 65534")
    return port


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        raise argparse.ArgumentTypeError(f"invalid speed {text[:20]!r}: use a number above 0, "
                                         "like 60 (a minute of Azure's time a second)")
    return speed


class SandboxCommand:
    help = "the whole bot with a local Slack and a simulated fleet"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=_console_port, default=8000,
                            help="web console port (default 8000)")
        parser.add_argument("--speed", type=_speed, default=60.0,
                            help="how many times faster than real Azure the fleet fails over")
        parser.add_argument("--database", default=None, type=_database,
                            help="SQLAlchemy URL (default: a SQLite file in a temporary folder)")
        parser.add_argument("--no-browser", action="store_true", help="do not open a browser")

    def run(self, args: argparse.Namespace, settings: Settings) -> int:
        from failover_sandbox.run import run_sandbox

        return run_sandbox(settings, port=args.port, speed=args.speed,
                           database_url=args.database, open_browser=not args.no_browser)


COMMAND = SandboxCommand()
