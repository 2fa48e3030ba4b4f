"""The work process itself (``serve``'s second process; ``bot.work_process`` is the front's
handle on it): it checks the start-up and tells the front the outcome, builds the work role,
stores and takes the jobs the front hands over, runs each one once the front is quiet, and
exits when the front is gone."""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from slack_bolt import App

from bot.bootstrap import (
    GatewayFactory,
    azure_gateway,
    configure_logging_for,
    database_health,
    prepare,
    slack_client,
)
from bot.config import ConfigError, Settings, load_settings
from bot.exit_status import failure_line
from bot.in_flight import InFlight, JobLoopHeartbeat, SharedPage, watch
from bot.job_handover import JobKeeper
from bot.roles.front import front_config
from bot.roles.work import WorkRole, build_work_role
from bot.slack.guard import Identity
from bot.slack.lazy import LazyJob, run_job
from bot.store.jobs import JobStore
from bot.telemetry import Metrics, hold_start_up_logs, release_start_up_logs, render_latest
from bot.telemetry.redaction import Redactor
from bot.work_start import ChildStart

log = logging.getLogger(__name__)

URGENT_THREADS = 8  # opening dialogs (3 s trigger ids)
WORK_THREADS = 16  # everything else after an ack: mostly waiting on Azure and Slack
URGENT_MAX_WAIT_S = 1.0  # of the trigger id's 3 s
WORK_MAX_WAIT_S = 2.0
JOB_LEASE = timedelta(seconds=30)  # renewed every third of it; capped by BOT_LEASE_TTL
START_FAILED = 3  # the exit code when it could not start (logged in one line)
PARENT_CHECK_S = 1.0
BEAT_S = 1.0  # the job loop beats at least this often (the front's limit is many times it)


def run_from_stdin() -> None:
    """The child's entry point: the front pickles its ``ChildStart`` to our standard input,
    after its ``sys.path`` (a test's gateway factory is found by reference)."""
    # Only the front writes there: the pipe is ours from the moment we were started.
    sys.path[:] = pickle.load(sys.stdin.buffer)  # noqa: S301
    start: ChildStart = pickle.load(sys.stdin.buffer)  # noqa: S301
    main(start)


class _Control:
    """The control socket: one start-up result, then answers to the front's questions."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self.health: Callable[[], tuple[str, str]] = lambda: ("unknown", "starting")
        self.metrics: Metrics | None = None

    def say(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._connection.send(message)

    def answer_forever(self) -> None:
        """Answer the front; when the front is gone, go too."""
        while True:
            try:
                sequence, what, argument = self._connection.recv()
            except (EOFError, OSError):
                log.error("the front process is gone; the work process exits")
                os._exit(1)
            try:
                if what == "health":
                    answer: object = self.health()
                elif self.metrics is not None:
                    answer = render_latest(self.metrics, argument)
                else:
                    continue
            except Exception:
                log.exception("could not answer the front's %s question", what)
                continue
            self.say(("answer", sequence, answer))


def main(start: ChildStart) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the front decides
    control = _Control(Connection(start.control_fd))
    jobs = Connection(start.jobs_fd)
    heartbeat = JobLoopHeartbeat(SharedPage(start.work_page_fd))
    in_flight = InFlight(SharedPage(start.front_page_fd))
    metrics = control.metrics = Metrics()
    # First of all: the front's end of the socket and the front itself. A start-up that hangs
    # (Slack or the database unreachable) must not outlive the front.
    threading.Thread(target=control.answer_forever, daemon=True, name="front-control").start()
    threading.Thread(target=_watch_parent, args=(start.parent,), daemon=True,
                     name="parent-watch").start()
    os.nice(start.spec.niceness)
    settings: Settings | None = None
    hold_start_up_logs()  # a failed start-up is the front's one line, not what led to it
    try:
        settings = start.spec.settings or load_settings()
        configure_logging_for(settings)  # held until the start-up checks have passed
        gateway_factory = _gateway_factory(start.spec.gateway_factory)
        # The port only before the front serves: a restarted work process finds it the front's.
        role, workspace = _start_up(settings, gateway_factory, metrics, start.spec.port,
                                    port_free=start.previous_owner is None)
        store = JobStore(settings.database_url.get_secret_value())
        if start.previous_owner is not None:
            _release(store, start.previous_owner)
    except Exception as exc:  # one line, no traceback: the front says it, or restarts us
        line, status = failure_line(exc)
        line = Redactor(_secrets(settings)).redact(" ".join(line.split()))
        release_start_up_logs(emit=logging.getLogger().isEnabledFor(logging.DEBUG))
        if start.previous_owner is not None:  # a restart: the first start's line is the front's
            log.error("the work process could not start: %s", line)
        control.say(("failed", line, status))
        raise SystemExit(START_FAILED) from None
    uow = role.components.uow

    def health() -> tuple[str, str]:
        probed = database_health(uow)
        return probed.state, probed.detail

    control.health = health
    control.say(("started", front_config(settings, workspace, start.spec.port)))
    release_start_up_logs()
    if start.spec.run_poller:
        role.start_poller()
    _work(role, jobs, in_flight, store, start.owner,
          min(JOB_LEASE, settings.bot_lease_ttl), heartbeat)


def _gateway_factory(named: object) -> GatewayFactory:
    """The spec's factory: Azure's by default, a function, or a "module:function" name."""
    if named is None:
        return azure_gateway
    if isinstance(named, str):
        module, _, function = named.partition(":")
        factory: GatewayFactory = getattr(importlib.import_module(module), function)
        return factory
    return named  # type: ignore[return-value]


def _start_up(settings: Settings, gateway_factory: GatewayFactory, metrics: Metrics,
              port: int | None, *, port_free: bool) -> tuple[WorkRole, Identity]:
    """The work role, checked as ``serve`` checks before anything serves, each once and in
    this order: the Slack settings, the Azure settings (the gateway is built before the
    schema is migrated), the schema, Slack itself (a bad token or no Slack is one line and
    an exit code), the front's port. Who the bot is, for the front's guard."""
    from bot.slack.client import check_app_token, check_auth
    from bot.slack.guard import own_identity

    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN: required by `failover-bot serve` "
                          "(try `failover-bot sandbox` to run without Slack)")
    if not settings.socket_mode and settings.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET: required by `failover-bot serve` "
                          "(try `failover-bot sandbox` to run without Slack)")
    components = prepare(settings, gateway_factory, metrics=metrics)
    client = slack_client(settings, metrics)
    workspace = own_identity(client, check_auth(client, settings.slack_api_url))
    if settings.slack_app_token is not None:
        check_app_token(client, settings.slack_app_token.get_secret_value(),
                        settings.slack_api_url)
    if port_free:
        _can_listen(port or settings.port)
    # Only requests the front verified reach its Bolt app, and the token was checked above.
    return build_work_role(components, client=client, verify_requests=False,
                           workspace=workspace), workspace


def _can_listen(port: int) -> None:
    """The front's port, checked here with the rest (both processes share the host): uvicorn
    would find it taken only after start-up, and exit with its own status."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - where serve listens
        except OSError as exc:
            raise ConfigError(f"PORT: cannot listen on port {port}: {exc.strerror} "
                              "(set PORT or --port)") from None


def _secrets(settings: Settings | None) -> tuple[Any, ...]:
    if settings is None:
        return ()
    return (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token,
            settings.database_url)


def _release(store: JobStore, owner: str) -> None:
    """The previous work process is dead: its jobs run again here at once."""
    try:
        released = store.release(owner)
    except Exception as exc:  # they come back when their lease lapses
        log.warning("could not release the dead work process's jobs: %s", _first_line(exc))
        return
    if released:
        log.warning("%d lazy jobs of the dead work process will run again", released)


def _work(role: WorkRole, jobs: Connection, in_flight: InFlight, store: JobStore, owner: str,
          lease: timedelta, heartbeat: JobLoopHeartbeat) -> None:
    quiet = watch(in_flight)
    urgent = ThreadPoolExecutor(URGENT_THREADS, thread_name_prefix="slack-urgent")
    work = ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="slack-lazy")

    def dispatch(job: LazyJob) -> None:
        (urgent if job.urgent else work).submit(run_after_acks, role.bolt_app, job, quiet,
                                                keeper.finished)

    keeper = JobKeeper(store, owner, lease, dispatch)  # bound before its first sweep runs one
    keeper.start()
    heartbeat.beat()
    heartbeat.set_ready()
    log.info("work process ready (pid %d)", os.getpid())
    while (batch := _next_batch(jobs, heartbeat)) is not None:
        ours = keeper.take(batch)  # stored first: then the front may forget them
        jobs.send(("stored", [str(job.id) for job in batch]))
        for job in ours:
            dispatch(job)
    role.stop()
    urgent.shutdown(wait=True)
    work.shutdown(wait=True)
    keeper.stop()
    store.close()


def _next_batch(jobs: Connection, heartbeat: JobLoopHeartbeat) -> list[LazyJob] | None:
    """The next batch the front hands over, beating while none comes: the beat says this
    loop goes round (a frozen process, or a loop stuck in a claim, falls silent). ``None``
    when the front says stop, or is gone."""
    while True:
        heartbeat.beat()
        try:
            if jobs.poll(BEAT_S):
                batch: list[LazyJob] | None = jobs.recv()
                return batch
        except (EOFError, OSError):
            return None


def run_after_acks(app: App, job: LazyJob, quiet: threading.Event,
                   finished: Callable[[LazyJob], None] | None = None) -> None:
    """Run ``job`` once the front is ``quiet``, or after its lane's bound."""
    try:
        quiet.wait(URGENT_MAX_WAIT_S if job.urgent else WORK_MAX_WAIT_S)
        run_job(app, job)
    except Exception:
        log.exception("lazy %s failed", job.function)
    finally:
        # Done, even when it failed: its listener answered the user what went wrong, and a
        # re-run would fail the same way.
        if finished is not None:
            finished(job)


def _watch_parent(parent: int) -> None:
    """A second line of defence: an orphan (its parent pid changes) exits, whatever holds
    a copy of the socket."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    log.error("the front process (pid %d) is gone; the work process exits", parent)
    os._exit(1)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
