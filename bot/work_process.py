"""The work process behind ``serve``'s front: the lazy halves of Slack requests, and the poller.

The front (HTTP or Socket Mode) verifies, acks and hands each lazy half over
(``bot.slack.lazy``); this process does the work, so acks never wait for the GIL behind Azure
calls, database writes and Block Kit rendering. It is started with multiprocessing's *spawn*
(no forked locks or threads), builds its own service, Slack client and Bolt app from the same
settings, runs at a lower CPU priority so acks win the cores during a burst, and exits when
the front is gone. The front restarts it, with back-off, should it die.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from bot.bootstrap import GatewayFactory, Runtime, build_runtime, prepare, slack_client
from bot.config import Settings
from bot.slack.lazy import LazyJob, run_job
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

    def __init__(self, context: Any) -> None:
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

    jobs: Queue[LazyJob | None]
    control: Connection  # the front's end: metrics requests and answers
    child_control: Connection
    ready: Any  # a multiprocessing Event, set once the child can take jobs


class WorkProcess:
    """The front's handle on its work process: send jobs, read its metrics, keep it alive."""

    def __init__(self, spec: WorkSpec) -> None:
        self._spec = spec
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._control_lock = threading.Lock()
        self._sequence = itertools.count()
        self._process: BaseProcess | None = None
        self._channels = self._open_channels()
        self._supervisor: threading.Thread | None = None
        self.in_flight = InFlight(self._context)
        self.restarts = 0

    def start(self) -> WorkProcess:
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="work-supervisor",
                                            daemon=True)
        self._supervisor.start()
        return self

    def send(self, job: LazyJob) -> None:
        """Queue ``job``; while the process restarts, jobs wait in the next one's queue."""
        self._channels.jobs.put(job)

    def running(self) -> bool:
        """Started, and ready for jobs."""
        process = self._process
        return process is not None and process.is_alive() and self._channels.ready.is_set()

    # MINIMAL state() added by the front's branch for /healthz and /readyz; the work process's
    # owner replaces it with the real one (same name, same four answers).
    def state(self) -> str:
        """"starting" (first start), "running", "restarting" or "failed" (not supervised)."""
        if self.running():
            return "running"
        supervisor = self._supervisor
        if supervisor is None or not supervisor.is_alive():
            return "failed"
        return "starting" if self.restarts == 0 else "restarting"

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
        """Let the process finish what it holds, then end it."""
        self._stopping.set()
        process = self._process
        if process is None:
            return
        self._channels.jobs.put(None)
        process.join(timeout)
        if process.is_alive():
            log.warning("the work process did not stop in %.0f s; terminating it", timeout)
            process.terminate()
            process.join(5)

    def _open_channels(self) -> _Channels:
        control, child_control = self._context.Pipe()
        return _Channels(self._context.Queue(), control, child_control, self._context.Event())

    def _spawn(self) -> None:
        channels = self._channels
        process = self._context.Process(
            target=_main, name="failover-bot-work", daemon=True,
            args=(self._spec, channels.jobs, channels.child_control, channels.ready,
                  self.in_flight))
        process.start()
        channels.child_control.close()  # only the child's copy stays: it sees EOF when we go
        self._process = process

    def _supervise(self) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            started = time.monotonic()
            process.join()
            if self._stopping.is_set():
                return
            with self._control_lock:
                self._channels = self._open_channels()
            lived = time.monotonic() - started
            backoff = FIRST_BACKOFF_S if lived > HEALTHY_AFTER_S else min(backoff * 2,
                                                                          MAX_BACKOFF_S)
            self.restarts += 1
            log.error("the work process exited (code %s) after %.0f s; restarting in %.0f s",
                      process.exitcode, lived, backoff)
            if self._stopping.wait(backoff):
                return
            self._spawn()


class MetricsUnavailable(RuntimeError):
    """The work process could not render its metrics (not running, or too slow)."""


# -- the child -----------------------------------------------------------------------------


def _main(spec: WorkSpec, jobs: Queue[LazyJob | None], control: Connection,
          ready: Any, in_flight: InFlight) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the front decides
    os.nice(spec.niceness)
    components = prepare(spec.settings, spec.gateway_factory)
    client = slack_client(spec.settings, components.metrics)
    runtime = build_runtime(components, client=client, verify_requests=False)
    threading.Thread(target=_answer_front, args=(control, components.metrics), daemon=True,
                     name="front-control").start()
    if spec.run_poller:
        runtime.start_poller()
    ready.set()
    log.info("work process ready (pid %d)", os.getpid())
    _work(runtime, jobs, in_flight)


def _work(runtime: Runtime, jobs: Queue[LazyJob | None], in_flight: InFlight) -> None:
    quiet = watch(in_flight)
    urgent = ThreadPoolExecutor(URGENT_THREADS, thread_name_prefix="slack-urgent")
    work = ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="slack-lazy")
    while (job := jobs.get()) is not None:
        (urgent if job.urgent else work).submit(run_after_acks, runtime.bolt_app, job, quiet)
    runtime.stop()
    urgent.shutdown(wait=True)
    work.shutdown(wait=True)


def run_after_acks(app: Any, job: LazyJob, quiet: threading.Event) -> None:
    """Run ``job`` once the front is ``quiet``, or after its lane's bound."""
    try:
        quiet.wait(URGENT_MAX_WAIT_S if job.urgent else WORK_MAX_WAIT_S)
        run_job(app, job)
    except Exception:
        log.exception("lazy %s failed", job.function)


def _answer_front(control: Connection, metrics: Metrics) -> None:
    """Answer the front's metrics requests; when the front is gone, go too."""
    while True:
        try:
            sequence, accept = control.recv()
        except (EOFError, OSError):
            log.error("the front process is gone; the work process exits")
            os._exit(1)
        control.send((sequence, render_latest(metrics, accept)))
