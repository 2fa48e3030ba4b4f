"""``failover-bot serve``: the front (``bot.roles.front``) acks, and starts the work process
(``bot.work_process``, which builds ``bot.roles.work``) for the work after each ack and the
poller. ``failover-bot worker`` (only the poller) is ``bot.roles.worker``.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading

from bot.bootstrap import (
    GatewayFactory,
    azure_gateway,
    check_azure_settings,
    configure_logging_for,
    slack_client,
    sql_unit_of_work,
)
from bot.config import ConfigError, Settings
from bot.telemetry import Metrics, release_start_up_logs

log = logging.getLogger(__name__)


def _require(settings: Settings, *names: str) -> None:
    for name in names:
        if getattr(settings, name.lower()) is None:
            raise ConfigError(f"{name}: required by `failover-bot serve` "
                              "(try `failover-bot sandbox` to run without Slack)")


def _can_listen(port: int) -> None:
    """Before anything starts: uvicorn would find a taken port only after the work process
    was spawned, and exit with its own status."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - where serve listens
        except OSError as exc:
            raise ConfigError(f"PORT: cannot listen on port {port}: {exc.strerror} "
                              "(set PORT or --port)") from None


def serve(settings: Settings, *, port: int | None = None, with_poller: bool = True,
          gateway_factory: GatewayFactory = azure_gateway) -> int:
    """Run the bot: HTTP on ``port``, or Socket Mode (health and metrics still on HTTP).

    This process is the front: it acks. The work after each ack, and the poller unless
    ``with_poller`` is false, run in a work process it starts (``bot.work_process``).
    ``gateway_factory`` builds the hub gateway there (Azure unless a drill or a test says
    otherwise); it must be a module-level function, as the work process is spawned.
    """
    _require(settings, "SLACK_BOT_TOKEN")
    if not settings.socket_mode:
        _require(settings, "SLACK_SIGNING_SECRET")
    configure_logging_for(settings)
    if gateway_factory is azure_gateway:  # a missing Azure setting fails before migrating
        check_azure_settings(settings)
    from bot.roles.front import build_front
    from bot.slack.client import check_app_token, check_auth
    from bot.slack.guard import own_identity
    from bot.store.migrate import ensure_schema
    from bot.web import run_http, run_socket_mode
    from bot.work_child import WorkSpec
    from bot.work_process import WorkProcess

    database_url = settings.database_url.get_secret_value()
    ensure_schema(database_url)
    # uvicorn re-raises SIGTERM once it has shut down: make that an exception, so the
    # `finally` below lets the work process finish what it holds.
    signal.signal(signal.SIGTERM, _exit_quietly)
    metrics = Metrics()
    client = slack_client(settings, metrics)
    # Slack once, before anything is spawned: a bad token or no Slack is one line and an exit
    # code; Bolt's own check (an uncaught BoltError) is then not needed here.
    workspace = own_identity(client, check_auth(client, settings.slack_api_url))
    if settings.slack_app_token is not None:
        check_app_token(client, settings.slack_app_token.get_secret_value(),
                        settings.slack_api_url)
    _can_listen(port or settings.port)
    release_start_up_logs()  # start-up checks passed: what they logged is written now
    work = WorkProcess(WorkSpec(settings, gateway_factory, run_poller=with_poller)).start()
    front = build_front(settings, client=client, workspace=workspace, work=work,
                        store=sql_unit_of_work(database_url), metrics=metrics)
    port = port or settings.port
    # What start-up built lives as long as the process: keep it out of every full garbage
    # collection, which would otherwise pause the acks for tens of milliseconds.
    gc.freeze()
    try:
        if settings.slack_app_token is not None:
            threading.Thread(target=run_http, args=(front.web_app, port), daemon=True,
                             name="health").start()
            run_socket_mode(front.bolt_app, settings.slack_app_token.get_secret_value())
        else:
            log.info("serving Slack on port %d", port)
            run_http(front.web_app, port)
    finally:
        work.stop()
    return 0


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)
