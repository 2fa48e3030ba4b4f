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
import socket
import threading
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent

from bot import work_child
from bot.in_flight import InFlight, JobLoopHeartbeat
from bot.job_handover import JobWriter, Outbox
from bot.slack.lazy import LazyJob
from bot.store.jobs import JobStore
from bot.work_child import WorkSpec

log = logging.getLogger(__name__)

METRICS_TIMEOUT_S = 5.0
FIRST_BACKOFF_S, MAX_BACKOFF_S = 1.0, 30.0
HEALTHY_AFTER_S = 60.0  # a process that lived this long resets the back-off
SUPERVISOR_ATTEMPTS = 5  # failures in a row to bring the process back before "failed"


@dataclass
class _Channels:
    """What one incarnation of the work process talks through (new ones for each restart:
    a process killed inside ``Queue.get`` leaves that queue's read lock taken)."""

    jobs: Queue[list[LazyJob] | None]
    control: Connection  # the front's end: metrics requests and answers
    child_control: Connection
    ready: ProcessEvent  # a multiprocessing Event, set once the child can take jobs
    heartbeat: JobLoopHeartbeat  # beaten by the child's job loop
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
        self._unresponsive_after = spec.settings.bot_work_unresponsive_after.total_seconds()
        self._said_unresponsive = False
        self.in_flight = InFlight(self._context)
        self.restarts = 0
        self.jobs = JobStore(spec.settings.database_url.get_secret_value())
        self._outbox = Outbox()
        self._writer = JobWriter(self._outbox, self.jobs, self._deliver,
                                 answered_within=self.in_flight.answered_within)

    def start(self) -> WorkProcess:
        self._writer.start()
        first = self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, args=(first,),
                                            name="work-supervisor", daemon=True)
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
        """"starting" (never ready yet), "running", "unresponsive" (alive, but its job loop
        has not gone round for ``BOT_WORK_UNRESPONSIVE_AFTER``: stopped or stuck, so acked
        work waits), "restarting" or "failed" (given up)."""
        if self._failed:
            return "failed"
        if self.running():
            return "unresponsive" if self._unresponsive() else "running"
        return "restarting" if self._was_ready else "starting"

    def _unresponsive(self) -> bool:
        """Said once when it falls silent and once when it beats again, not on each probe."""
        silent = self._channels.heartbeat.silent_for()
        unresponsive = silent >= self._unresponsive_after
        if unresponsive != self._said_unresponsive:
            self._said_unresponsive = unresponsive
            if unresponsive:
                log.error("the work process (pid %s) has not taken jobs for %.0f s: it is "
                          "stopped or stuck, and acked work waits", self._pid(), silent)
            else:
                log.warning("the work process (pid %s) takes jobs again", self._pid())
        return unresponsive

    def _pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def render_metrics(self, accept: str | None) -> tuple[bytes, str]:
        """The work process's /metrics (it holds every counter that matters)."""
        with self._control_lock:
            if self.state() != "running":  # a stopped process would keep us waiting
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
                         JobLoopHeartbeat(self._context), owner[:128])

    def _spawn(self) -> BaseProcess:
        channels = self._channels
        process = self._context.Process(
            target=work_child.main, name="failover-bot-work", daemon=True,
            args=(self._spec, channels.jobs, channels.child_control, channels.ready,
                  channels.heartbeat, self.in_flight, channels.owner, os.getpid()))
        process.start()
        channels.child_control.close()  # only the child's copy stays: it sees EOF when we go
        self._process = process
        return process

    def _supervise(self, process: BaseProcess) -> None:
        """Restart the process whenever it dies; survive its own failures to do so (then the
        dead one is joined again, at once, and its restart tried again)."""
        backoff, failures = FIRST_BACKOFF_S, 0
        while not self._stopping.is_set():
            try:
                process, backoff = self._restart_when_dead(process, backoff)
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

    def _restart_when_dead(self, process: BaseProcess,
                           backoff: float) -> tuple[BaseProcess, float]:
        """Wait for ``process`` to die; the one that replaces it, and the next backoff."""
        started = time.monotonic()
        process.join()
        if self._stopping.is_set():
            return process, backoff
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
        if self._stopping.wait(backoff):
            return process, backoff
        return self._spawn(), backoff

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
