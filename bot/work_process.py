"""The work process behind ``serve``'s front: the lazy halves of Slack requests, and the poller.

The front (HTTP or Socket Mode) verifies, acks and hands each lazy half over
(``bot.slack.lazy``); this process does the work, so acks never wait for the GIL behind Azure
calls, database writes and Block Kit rendering. It is started with multiprocessing's *spawn*
(no forked locks or threads), builds its own service, Slack client and Bolt app from the same
settings, runs at a lower CPU priority so acks win the cores during a burst, and exits when
the front is gone. The front restarts it, with back-off, should it die.

Jobs cross over durably (``bot.job_handover``): the front stores each one after its ack and
the work process deletes it once done, so a job in the hands of a work process that dies is
released by the front and run again by the next one; jobs a dead bot left are run by the next
bot (after their lease lapses: another replica may still be running them).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent

from slack_bolt import App

from bot.bootstrap import GatewayFactory, configure_logging_for
from bot.config import Settings
from bot.job_handover import JobKeeper, JobWriter, Outbox
from bot.roles.work import Worker, start_work_role
from bot.slack.lazy import LazyJob, run_job
from bot.store.jobs import JobStore
from bot.telemetry import Metrics, render_latest

log = logging.getLogger(__name__)

NICENESS = 19  # acks first: the front keeps the default priority
URGENT_THREADS = 8  # opening dialogs (3 s trigger ids)
WORK_THREADS = 16  # everything else after an ack: mostly waiting on Azure and Slack
URGENT_MAX_WAIT_S = 1.0  # of the trigger id's 3 s
WORK_MAX_WAIT_S = 2.0
METRICS_TIMEOUT_S = 5.0
FIRST_BACKOFF_S, MAX_BACKOFF_S = 1.0, 30.0
HEALTHY_AFTER_S = 60.0  # a process that lived this long resets the back-off
SUPERVISOR_ATTEMPTS = 5  # failures in a row to bring the process back before "failed"
JOB_LEASE = timedelta(seconds=30)  # renewed every third of it; capped by BOT_LEASE_TTL
START_FAILED = 3  # the child's exit code when it could not start (logged in one line)
PARENT_CHECK_S = 1.0


@dataclass(frozen=True)
class WorkSpec:
    """What the child needs to build itself; pickled, so ``gateway_factory`` is module-level."""

    settings: Settings
    gateway_factory: GatewayFactory
    run_poller: bool = True
    niceness: int = NICENESS


class InFlight:
    """Whether the front is answering Slack, in memory both processes share.

    Acks first: the work process holds new work back until the front has answered nothing
    for a short quiet spell, or for a bounded time (a burst must not starve the work, and a
    dialog must open within 3 s). The spell matters: requests still waiting in the front's
    socket buffers are not counted yet.
    """

    POLL_S = 0.002
    QUIET_S = 0.05

    def __init__(self, context: BaseContext) -> None:
        self._count = context.Value("i", 0)
        # Written under the count's lock; time.monotonic() is system-wide.
        self._last_answer = context.Value("d", 0.0, lock=False)

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._count.get_lock():
            self._count.value += 1
        try:
            yield
        finally:
            with self._count.get_lock():
                self._count.value -= 1
                self._last_answer.value = time.monotonic()

    def answering_now(self) -> bool:
        return bool(self._count.get_obj().value)  # lock-free, as in is_quiet

    def is_quiet(self) -> bool:
        # Lock-free reads: the work process, at a low priority, must never hold the lock that
        # the front's acks take (a preempted holder would stall them).
        return (self._count.get_obj().value == 0
                and time.monotonic() - self._last_answer.value >= self.QUIET_S)


def watch(in_flight: InFlight) -> threading.Event:
    """An event set while the front is quiet. One thread watches, so the work threads wait
    on the event rather than each polling the shared memory."""
    quiet = threading.Event()

    def keep_watching() -> None:
        while True:
            if in_flight.is_quiet():
                quiet.set()
            else:
                quiet.clear()
            time.sleep(InFlight.POLL_S)

    threading.Thread(target=keep_watching, name="front-watch", daemon=True).start()
    return quiet


@dataclass
class _Channels:
    """What one incarnation of the work process talks through (new ones for each restart:
    a process killed inside ``Queue.get`` leaves that queue's read lock taken)."""

    jobs: Queue[list[LazyJob] | None]
    control: Connection  # the front's end: metrics requests and answers
    child_control: Connection
    ready: ProcessEvent  # a multiprocessing Event, set once the child can take jobs
    owner: str  # the token its claims on stored jobs carry


class WorkProcess:
    """The front's handle on its work process: send jobs, read its metrics, keep it alive."""

    def __init__(self, spec: WorkSpec) -> None:
        self._spec = spec
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._control_lock = threading.Lock()
        self._sequence = itertools.count()
        self._incarnations = itertools.count(1)
        self._process: BaseProcess | None = None
        self._channels = self._open_channels()
        self._supervisor: threading.Thread | None = None
        self._was_ready = False
        self._failed = False
        self.in_flight = InFlight(self._context)
        self.restarts = 0
        self.jobs = JobStore(spec.settings.database_url.get_secret_value())
        self._outbox = Outbox()
        self._writer = JobWriter(self._outbox, self.jobs, self._deliver,
                                 busy=self.in_flight.answering_now)

    def start(self) -> WorkProcess:
        self._writer.start()
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="work-supervisor",
                                            daemon=True)
        self._supervisor.start()
        return self

    def send(self, job: LazyJob) -> None:
        """Hand ``job`` over; the ack path's only cost is an append (no I/O)."""
        self._outbox.put(job)

    def answering(self) -> AbstractContextManager[None]:
        """Entered while the front answers Slack (the work process holds work back)."""
        return self.in_flight.answering()

    def running(self) -> bool:
        """Started, and ready for jobs."""
        process = self._process
        ready = process is not None and _alive(process) and self._channels.ready.is_set()
        self._was_ready = self._was_ready or ready
        return ready

    def state(self) -> str:
        """"starting" (never ready yet), "running", "restarting" or "failed" (given up)."""
        if self._failed:
            return "failed"
        if self.running():
            return "running"
        return "restarting" if self._was_ready else "starting"

    def render_metrics(self, accept: str | None) -> tuple[bytes, str]:
        """The work process's /metrics (it holds every counter that matters)."""
        with self._control_lock:
            if not self.running():
                raise MetricsUnavailable("the work process is not running")
            control = self._channels.control
            sequence = next(self._sequence)
            control.send((sequence, accept))
            deadline = time.monotonic() + METRICS_TIMEOUT_S
            while control.poll(max(0.0, deadline - time.monotonic())):
                answered, rendered = control.recv()
                if answered == sequence:  # earlier answers came too late for their asker
                    return bytes(rendered[0]), str(rendered[1])
            raise MetricsUnavailable("the work process did not answer in time")

    def stop(self, timeout: float = 30.0) -> None:
        """Hand over what was acked, let the process finish what it holds, then end it."""
        self._stopping.set()
        self._outbox.close()
        self._writer.join(timeout)
        process = self._process
        if process is None:
            return
        self._channels.jobs.put(None)
        if not self._wait_exit(process, timeout):
            log.warning("the work process did not stop in %.0f s; terminating it", timeout)
            process.terminate()
            self._wait_exit(process, 5)
        self.jobs.close()

    def _wait_exit(self, process: BaseProcess, timeout: float) -> bool:
        """Whether ``process`` ended within ``timeout``. The supervisor is its one joiner:
        two threads in ``join`` race for the exit status, and the loser returns at once,
        with ``is_alive()`` still true for a process that is gone."""
        supervisor = self._supervisor
        if supervisor is not None and supervisor.is_alive():
            supervisor.join(timeout)  # stopping: it returns once the process has ended
        else:
            process.join(timeout)
        return not _alive(process)

    def _deliver(self, jobs: list[LazyJob]) -> None:
        if self._failed:
            return  # stored: the next start of the bot runs them
        self._channels.jobs.put(jobs)  # while it restarts, they wait for the next process

    def _open_channels(self) -> _Channels:
        control, child_control = self._context.Pipe()
        owner = f"{socket.gethostname()}:{os.getpid()}:{next(self._incarnations)}:" \
                f"{uuid.uuid4().hex[:8]}"
        return _Channels(self._context.Queue(), control, child_control, self._context.Event(),
                         owner[:128])

    def _spawn(self) -> None:
        channels = self._channels
        process = self._context.Process(
            target=_main, name="failover-bot-work", daemon=True,
            args=(self._spec, channels.jobs, channels.child_control, channels.ready,
                  self.in_flight, channels.owner, os.getpid()))
        process.start()
        channels.child_control.close()  # only the child's copy stays: it sees EOF when we go
        self._process = process

    def _supervise(self) -> None:
        """Restart the process whenever it dies; survive its own failures to do so."""
        backoff, failures = FIRST_BACKOFF_S, 0
        while not self._stopping.is_set():
            try:
                backoff = self._restart_when_dead(backoff)
                failures = 0
            except Exception:
                failures += 1
                log.exception("could not restart the work process (attempt %d of %d)",
                              failures, SUPERVISOR_ATTEMPTS)
                if failures >= SUPERVISOR_ATTEMPTS:
                    self._failed = True
                    log.error("gave up restarting the work process: acked work is kept in "
                              "the database for the next start of the bot")
                    return
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                if self._stopping.wait(backoff):
                    return

    def _restart_when_dead(self, backoff: float) -> float:
        process = self._process
        assert process is not None
        started = time.monotonic()
        process.join()
        if self._stopping.is_set():
            return backoff
        dead = self._channels
        self._was_ready = self._was_ready or dead.ready.is_set()
        with self._control_lock:
            self._channels = self._open_channels()
        self._release(dead.owner)
        lived = time.monotonic() - started
        backoff = FIRST_BACKOFF_S if lived > HEALTHY_AFTER_S else min(backoff * 2,
                                                                      MAX_BACKOFF_S)
        self.restarts += 1
        log.error("the work process exited (code %s) after %.0f s; restarting in %.0f s",
                  process.exitcode, lived, backoff)
        if not self._stopping.wait(backoff):
            self._spawn()
        return backoff

    def _release(self, owner: str) -> None:
        """The owner is dead (joined): its jobs run again in the next process at once."""
        try:
            released = self.jobs.release(owner)
        except Exception as exc:  # they come back when their lease lapses
            log.warning("could not release the dead work process's jobs: %s", exc)
            return
        if released:
            log.warning("%d lazy jobs of the dead work process will run again", released)


def _alive(process: BaseProcess) -> bool:
    """Without reaping it (``is_alive()`` does: see ``WorkProcess._wait_exit``)."""
    return not multiprocessing.connection.wait([process.sentinel], 0)


class MetricsUnavailable(RuntimeError):
    """The work process could not render its metrics (not running, or too slow)."""


# -- the child -----------------------------------------------------------------------------


def _main(spec: WorkSpec, jobs: Queue[list[LazyJob] | None], control: Connection,
          ready: ProcessEvent, in_flight: InFlight, owner: str, parent: int) -> None:
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
        worker = start_work_role(spec.settings, spec.gateway_factory, metrics)
        store = JobStore(spec.settings.database_url.get_secret_value())
    except Exception as exc:  # one line, no traceback: the front restarts us with back-off
        log.error("the work process could not start: %s: %s", type(exc).__name__,
                  _first_line(exc))
        raise SystemExit(START_FAILED) from None
    if spec.run_poller:
        worker.start_poller()
    _work(worker, jobs, in_flight, store, owner, min(JOB_LEASE, spec.settings.bot_lease_ttl),
          ready)


def _work(worker: Worker, jobs: Queue[list[LazyJob] | None], in_flight: InFlight,
          store: JobStore, owner: str, lease: timedelta, ready: ProcessEvent | None = None) -> None:
    quiet = watch(in_flight)
    urgent = ThreadPoolExecutor(URGENT_THREADS, thread_name_prefix="slack-urgent")
    work = ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="slack-lazy")

    def dispatch(job: LazyJob) -> None:
        (urgent if job.urgent else work).submit(run_after_acks, worker.bolt_app, job, quiet,
                                                keeper.finished)

    keeper = JobKeeper(store, owner, lease, dispatch).start()
    if ready is not None:
        ready.set()
    log.info("work process ready (pid %d)", os.getpid())
    while (batch := jobs.get()) is not None:
        for job in keeper.claim(batch):
            dispatch(job)
    worker.stop()
    urgent.shutdown(wait=True)
    work.shutdown(wait=True)
    keeper.stop()
    store.close()


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
