"""The work process itself (``serve``'s second process; ``bot.work_process`` is the front's
handle on it): it builds the work role, takes the jobs the front hands over, runs each one
once the front is quiet, and exits when the front is gone."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent

from slack_bolt import App

from bot.bootstrap import GatewayFactory, configure_logging_for
from bot.config import Settings
from bot.in_flight import InFlight, JobLoopHeartbeat, watch
from bot.job_handover import JobKeeper
from bot.roles.work import WorkRole, start_work_role
from bot.slack.lazy import LazyJob, run_job
from bot.store.jobs import JobStore
from bot.telemetry import Metrics, render_latest

log = logging.getLogger(__name__)

NICENESS = 19  # acks first: the front keeps the default priority
URGENT_THREADS = 8  # opening dialogs (3 s trigger ids)
WORK_THREADS = 16  # everything else after an ack: mostly waiting on Azure and Slack
URGENT_MAX_WAIT_S = 1.0  # of the trigger id's 3 s
WORK_MAX_WAIT_S = 2.0
JOB_LEASE = timedelta(seconds=30)  # renewed every third of it; capped by BOT_LEASE_TTL
START_FAILED = 3  # the exit code when it could not start (logged in one line)
PARENT_CHECK_S = 1.0
BEAT_S = 1.0  # the job loop beats at least this often (the front's limit is many times it)


@dataclass(frozen=True)
class WorkSpec:
    """What the child needs to build itself; pickled, so ``gateway_factory`` is module-level."""

    settings: Settings
    gateway_factory: GatewayFactory
    run_poller: bool = True
    niceness: int = NICENESS


def main(spec: WorkSpec, jobs: Queue[list[LazyJob] | None], control: Connection,
         ready: ProcessEvent, heartbeat: JobLoopHeartbeat, in_flight: InFlight, owner: str,
         parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the front decides
    configure_logging_for(spec.settings)  # before anything can fail: one JSON line each
    metrics = Metrics()
    # First of all: the front's end of the pipe and the front itself. A start-up that hangs
    # (Slack or the database unreachable) must not outlive the front.
    threading.Thread(target=_answer_front, args=(control, metrics), daemon=True,
                     name="front-control").start()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="parent-watch").start()
    os.nice(spec.niceness)
    try:
        role = start_work_role(spec.settings, spec.gateway_factory, metrics)
        store = JobStore(spec.settings.database_url.get_secret_value())
    except Exception as exc:  # one line, no traceback: the front restarts us with back-off
        log.error("the work process could not start: %s: %s", type(exc).__name__,
                  _first_line(exc))
        raise SystemExit(START_FAILED) from None
    if spec.run_poller:
        role.start_poller()
    _work(role, jobs, in_flight, store, owner, min(JOB_LEASE, spec.settings.bot_lease_ttl),
          ready, heartbeat)


def _work(role: WorkRole, jobs: Queue[list[LazyJob] | None], in_flight: InFlight,
          store: JobStore, owner: str, lease: timedelta, ready: ProcessEvent,
          heartbeat: JobLoopHeartbeat) -> None:
    quiet = watch(in_flight)
    urgent = ThreadPoolExecutor(URGENT_THREADS, thread_name_prefix="slack-urgent")
    work = ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="slack-lazy")

    def dispatch(job: LazyJob) -> None:
        (urgent if job.urgent else work).submit(run_after_acks, role.bolt_app, job, quiet,
                                                keeper.finished)

    keeper = JobKeeper(store, owner, lease, dispatch).start()
    heartbeat.beat()
    ready.set()
    log.info("work process ready (pid %d)", os.getpid())
    while (batch := _next_batch(jobs, heartbeat)) is not None:
        for job in keeper.claim(batch):
            dispatch(job)
    role.stop()
    urgent.shutdown(wait=True)
    work.shutdown(wait=True)
    keeper.stop()
    store.close()


def _next_batch(jobs: Queue[list[LazyJob] | None],
                heartbeat: JobLoopHeartbeat) -> list[LazyJob] | None:
    """The next batch the front hands over, beating while none comes: the beat says this
    loop goes round (a frozen process, or a loop stuck in a claim, falls silent)."""
    while True:
        heartbeat.beat()
        try:
            return jobs.get(timeout=BEAT_S)
        except queue.Empty:
            continue


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


def _answer_front(control: Connection, metrics: Metrics) -> None:
    """Answer the front's metrics requests; when the front is gone, go too."""
    while True:
        try:
            sequence, accept = control.recv()
        except (EOFError, OSError):
            log.error("the front process is gone; the work process exits")
            os._exit(1)
        control.send((sequence, render_latest(metrics, accept)))


def _watch_parent(parent: int) -> None:
    """A second line of defence: an orphan (its parent pid changes) exits, whatever holds
    a copy of the pipe."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    log.error("the front process (pid %d) is gone; the work process exits", parent)
    os._exit(1)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
