"""``failover-bot serve``: the front (``bot.roles.front``) acks, and starts the work process
(``bot.work_process``, which builds ``bot.roles.work``) for the work after each ack and the
poller. ``failover-bot worker`` (only the poller) is ``bot.roles.worker``.

This process lives as long as the bot and stays small: it imports no settings library, no
SQL and no Azure. The work process reads and checks the settings, migrates and asks Slack
who the bot is; the front serves once it has said so (``FrontConfig``).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from typing import TYPE_CHECKING, Any

from bot.telemetry import Metrics, configure_logging, release_start_up_logs

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings | None = None, *, port: int | None = None,
          with_poller: bool = True, gateway_factory: Any = None) -> int:
    """Run the bot: HTTP on ``port``, or Socket Mode (health and metrics still on HTTP).

    This process is the front: it acks. The work after each ack, and the poller unless
    ``with_poller`` is false, run in a work process it starts (``bot.work_process``), which
    reads ``settings`` from the environment unless given them (tests, benchmarks).
    ``gateway_factory`` builds the hub gateway there (Azure unless a drill or a test says
    otherwise); it must be a module-level function, as it is pickled to that process.
    Raises ``bot.work_process.StartFailed`` when the start-up checks fail.
    """
    from bot.roles.front import build_front
    from bot.slack.client import make_web_client
    from bot.web import run_http, run_socket_mode
    from bot.work_process import WorkProcess
    from bot.work_start import WorkSpec

    work = WorkProcess(WorkSpec(settings, gateway_factory, run_poller=with_poller, port=port))
    config = work.start()  # it checked the port too, last: the front only serves now
    configure_logging(config.log_level, secrets=config.secrets)
    # uvicorn re-raises SIGTERM once it has shut down: make that an exception, so the
    # `finally` below lets the work process finish what it holds.
    signal.signal(signal.SIGTERM, _exit_quietly)
    release_start_up_logs()  # start-up checks passed: what they logged is written now
    metrics = Metrics()
    client = make_web_client(config.bot_token, config.slack_api_url, metrics=metrics)
    front = build_front(config, client=client, work=work, metrics=metrics)
    # What start-up built lives as long as the process: keep it out of every full garbage
    # collection, which would otherwise pause the acks for tens of milliseconds.
    gc.freeze()
    try:
        if config.app_token is not None:
            threading.Thread(target=run_http, args=(front.web_app, config.port), daemon=True,
                             name="health").start()
            run_socket_mode(front.bolt_app, config.app_token)
        else:
            log.info("serving Slack on port %d", config.port)
            run_http(front.web_app, config.port)
    finally:
        work.stop()
    return 0


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)
