"""``failover-bot sandbox``: the real bot, a local Slack workspace and a simulated fleet.

Three HTTP servers on 127.0.0.1: the web console (``port``), the bot's own HTTP face with
``/slack/events`` (``port + 1``) and the fake Slack Web API (a free port). The bot is built
exactly as ``serve`` builds it; only its Slack host and its Azure gateway are local.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import webbrowser
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pydantic import SecretStr
from starlette.applications import Starlette

from bot.bootstrap import bootstrap
from bot.config import Settings
from bot.domain.clock import SystemClock
from bot.domain.durations import humanize
from bot.domain.regions import same_region
from bot.domain.rules import estimate_duration
from bot.roles.single import Runtime, build_runtime
from failover_sandbox.console import Channel, Console, Person
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from failover_sandbox.slack_api import SANDBOX_TOKEN, FakeSlackServer
from failover_sandbox.workspace import SandboxWorkspace

log = logging.getLogger(__name__)

ALICE = Person("U0ALICE", "Alice", "on-call", "alice")
BOB = Person("U0BOB", "Bob", "incident lead", "bob")
EVE = Person("U0EVE", "Eve", "not on the rota", "eve")
PEOPLE = [ALICE, BOB, EVE]
INCIDENT = Channel("C0INCIDENT", "incident", "Sev-1 bridge – failovers are run from here")
DEMO_HUB = "contoso-prod-weu"  # 250k devices: about 20 s at the default speed of 60
REGION = "West Europe"  # where most of the fleet is: the regional outage to try
HOST = "127.0.0.1"


def sandbox_settings(settings: Settings, *, api_url: str, database_url: str,
                     poll_interval: timedelta) -> Settings:
    """The operator's settings, with Slack, the people and the database made local."""
    return settings.model_copy(update={
        "slack_bot_token": SecretStr(SANDBOX_TOKEN),
        "slack_signing_secret": SecretStr(secrets.token_hex(32)),  # fresh per run
        "slack_app_token": None,
        "slack_api_url": api_url,
        "database_url": SecretStr(database_url),
        "azure_subscription_id": (),
        "bot_approvers": (BOB.id,),
        "bot_requesters": (ALICE.id, BOB.id),
        "bot_allowed_channels": (INCIDENT.id,),
        "bot_require_approval": True,
        "bot_audit_channel": None,
        "bot_poll_interval": poll_interval,
    })


class PortInUse(OSError):
    """A port the sandbox listens on is taken (or not one it may use): the operator's to fix."""


def check_port_free(port: int, what: str) -> None:
    """Before anything starts: uvicorn would log its own error line first, and the sandbox
    would have started the rest for nothing."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise PortInUse(f"the {what} cannot listen on {HOST}:{port} "
                            f"({exc.strerror or exc}): try another --port") from None


class _Served:
    """One uvicorn server in a background thread, stoppable from another thread."""

    def __init__(self, app: Starlette, port: int, name: str) -> None:
        import uvicorn

        config = uvicorn.Config(app, host=HOST, port=port, log_config=None,
                                log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self.name, self.port = name, port
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
            self.server.run()

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the {self.name} could not listen on {HOST}:{self.port} "
                              "(is the port in use? try --port)")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Sandbox:
    """``with Sandbox(settings, port=…) as sandbox: …`` – or start() and stop()."""

    def __init__(self, settings: Settings, *, port: int = 8000, bot_port: int | None = None,
                 speed: float = 60.0, database_url: str | None = None,
                 poll_interval: timedelta = timedelta(seconds=2)) -> None:
        if speed <= 0:
            raise ValueError("--speed must be positive")
        self.port, self.bot_port = port, bot_port or port + 1
        self.speed = speed
        self._base_settings = settings
        self._database_url = database_url
        self._poll_interval = poll_interval
        self._workdir: Path | None = None
        self._started: list[Any] = []
        self.workspace = SandboxWorkspace()
        self.gateway = SimulatedIotHubGateway.default_fleet(SystemClock(), speed=speed,
                                                              with_history=True)
        self.settings: Settings | None = None
        self.runtime: Runtime | None = None
        self.console: Console | None = None

    @property
    def console_url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def bot_url(self) -> str:
        return f"http://{HOST}:{self.bot_port}/slack/events"

    def start(self) -> Sandbox:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from bot.slack.client import make_web_client
        from bot.store.migrate import ensure_schema

        check_port_free(self.port, "web console")
        check_port_free(self.bot_port, "bot's HTTP server (on --port + 1)")
        api = FakeSlackServer(self.workspace).start()
        self._started.append(api)
        for person in PEOPLE:
            self.workspace.add_user(person.id, person.handle)
        self.workspace.add_channel(INCIDENT.id, INCIDENT.name)
        url = self._database_url
        if url is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="failover-bot-sandbox-"))
            url = f"sqlite:///{self._workdir / 'sandbox.db'}"
        ensure_schema(url)
        settings = sandbox_settings(self._base_settings, api_url=api.api_url, database_url=url,
                                    poll_interval=self._poll_interval)
        self.settings = settings
        components = bootstrap(settings, gateway=self.gateway, time_scale=self.speed,
                               timeline=self.gateway.timeline)
        client = make_web_client(SANDBOX_TOKEN, api.api_url, metrics=components.metrics)
        self.runtime = build_runtime(components, client=client)
        self._started.append(self.runtime)
        self.runtime.start_poller()
        bot = _Served(self.runtime.web_app, self.bot_port, "bot's HTTP server")
        bot.start()
        self._started.append(bot)
        secret = settings.slack_signing_secret.get_secret_value() \
            if settings.slack_signing_secret else ""
        self.console = Console(self.workspace, response_url=api.response_url,
                               bot_url=self.bot_url, signing_secret=secret, channel=INCIDENT,
                               people=PEOPLE, fleet=self.gateway)
        console = _Served(self.console.web_app(), self.port, "web console")
        console.start()
        self._started.append(console)

    def stop(self) -> None:
        """Stop what was started, newest first; safe to call twice."""
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def banner(sandbox: Sandbox) -> str:
    hub = next(h for h in sandbox.gateway.list_hubs() if h.ref.name == DEMO_HUB)
    devices = sandbox.gateway.get_state(hub.ref).device_count
    takes = estimate_duration(devices) / sandbox.speed
    people = "\n".join(f"    {p.name} ({p.title})" for p in PEOPLE)
    regional = sum(1 for h in sandbox.gateway.list_hubs() if same_region(h.active_region, REGION))
    return (
        f"\nfailover-bot sandbox: the real bot, a local Slack and a simulated Azure fleet\n\n"
        f"  Console:  {sandbox.console_url}\n"
        f"  Channel:  #{INCIDENT.name}\n"
        f"  People (switch in the console's sidebar):\n{people}\n\n"
        f"  Time runs {sandbox.speed:g}x faster than Azure: failing over {DEMO_HUB} takes "
        f"about {humanize(takes)}.\n"
        f"  Try, as Alice:  /iothub failover {DEMO_HUB}\n"
        f"  Then switch to Bob to approve it.\n"
        f"  A regional outage: /iothub failover --region \"{REGION}\" "
        f"({regional} hubs active there)\n"
        f"  Ctrl-C stops everything.\n"
    )


def _open_browser(url: str) -> None:
    # Without a display, webbrowser may start a text browser in this very terminal.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return
    try:
        webbrowser.open(url)
    except Exception:
        log.info("could not open a browser", exc_info=True)


def run_sandbox(settings: Settings, *, port: int = 8000, speed: float = 60.0,
                database_url: str | None = None, open_browser: bool = True,
                out: TextIO | None = None, stop: threading.Event | None = None) -> int:
    """Start, print the banner, wait for Ctrl-C (or SIGTERM, or ``stop``), stop; returns 0."""
    from bot.telemetry import configure_logging, hold_start_up_logs, release_start_up_logs

    out = out or sys.stdout
    # The terminal shows the banner; the bot's own logs only from warnings up unless asked,
    # and only once it started: a failed start is one line.
    hold_start_up_logs()
    handler = configure_logging(os.environ.get("BOT_LOG_LEVEL") or "WARNING",
                                secrets=(settings.database_url,))
    stop = stop or threading.Event()
    sandbox = Sandbox(settings, port=port, speed=speed, database_url=database_url)
    previous = _on_sigterm(stop)
    try:
        sandbox.start()
    except BaseException as exc:
        said = isinstance(exc, OSError)  # in one line, below; anything else is bot.cli's
        release_start_up_logs(emit=not said and logging.getLogger().isEnabledFor(logging.DEBUG))
        logging.getLogger().removeHandler(handler)
        _restore_sigterm(previous)
        if not said:
            raise
        print(f"failover-bot sandbox: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, PortInUse) else 1
    release_start_up_logs()
    try:
        print(banner(sandbox), file=out, flush=True)
        if open_browser:
            _open_browser(sandbox.console_url)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the sandbox…", file=out, flush=True)
        sandbox.stop()
        _restore_sigterm(previous)
        logging.getLogger().removeHandler(handler)
    return 0


def _on_sigterm(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return signal.signal(signal.SIGTERM, handle)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
