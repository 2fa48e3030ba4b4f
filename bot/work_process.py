"""The work process behind ``serve``'s front: the lazy halves of Slack requests, and the poller.

The front acks and hands each lazy half over (``bot.slack.lazy``); this process does the work,
so acks never wait for the GIL behind Azure, the database and Block Kit. A plain child
(``bot.work_spawn``: no resource tracker beside it), it checks the start-up and tells the
front what it needs (``FrontConfig``), runs at a lower CPU priority, exits when the front is
gone, and is restarted with back-off should it die. Jobs cross over durably: the front keeps
each job until the work process says it stored it (``bot.job_handover``); what it acks while
no work process can take them, and what a dead one never confirmed, it stores itself
(``bot.store.job_spool``). The next work process releases what a dead one held.
"""

from __future__ import annotations

import itertools
import logging
import subprocess
import threading
import time
from contextlib import AbstractContextManager, suppress
from typing import Any

from bot.in_flight import InFlight, SharedPage
from bot.job_outbox import JobSender, Outbox, to_stored
from bot.roles.front import FrontConfig
from bot.slack.lazy import LazyJob
from bot.store.base import StoreUnavailable
from bot.store.job_spool import JobSpool
from bot.work_spawn import Channels, open_channels, read_confirmations, spawn
from bot.work_start import DatabaseAnswer, StartFailed, WorkSpec

log = logging.getLogger(__name__)

CONTROL_TIMEOUT_S = 5.0
FIRST_BACKOFF_S, MAX_BACKOFF_S = 1.0, 30.0
HEALTHY_AFTER_S = 60.0  # a process that lived this long resets the back-off
SUPERVISOR_ATTEMPTS = 5  # failures in a row to bring the process back before "failed"


class WorkProcess:
    """The front's handle on its work process: send jobs, ask it, keep it alive."""

    def __init__(self, spec: WorkSpec) -> None:
        self._spec = spec
        self._stopping = threading.Event()
        self._control_lock = threading.Lock()
        self._sequence = itertools.count()
        self._incarnations = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None
        self._exited = threading.Event()
        self._front_page = SharedPage()
        self.in_flight = InFlight(self._front_page)
        self._channels = self._open_channels()
        self._supervisor: threading.Thread | None = None
        self._was_ready = False
        self._failed = False
        self._unresponsive_after = float("inf")
        self._said_unresponsive = False
        self.restarts = 0
        self._unconfirmed: dict[str, LazyJob] = {}  # sent, not yet stored by the child
        self._unconfirmed_lock = threading.Lock()  # held while jobs are handed or stored
        self._spool: JobSpool | None = None
        self._outbox = Outbox()
        self._sender = JobSender(self._outbox, self._deliver,
                                 answered_within=self.in_flight.answered_within)

    def start(self) -> FrontConfig:
        """Start the work process and wait for its start-up checks: what the front needs,
        or ``StartFailed`` (the process is gone then)."""
        self._spawn(previous_owner=None)
        config = self._start_up_result()
        self._spool = JobSpool(config.database_url)
        self._unresponsive_after = config.unresponsive_after_s
        self._sender.start()
        self._supervisor = threading.Thread(target=self._supervise, name="work-supervisor",
                                            daemon=True)
        self._supervisor.start()
        return config

    def _start_up_result(self) -> FrontConfig:
        """Its first message (EOF, should it die first: only it holds the other end)."""
        try:
            message = self._channels.control.recv()
        except (EOFError, OSError):
            message = ("failed", "unexpected error: the work process exited during start-up", 1)
        if message[0] == "started":
            config: FrontConfig = message[1]
            return config
        if self._process is not None:
            with suppress(subprocess.TimeoutExpired):  # it exits once it has said why
                self._process.wait(10)
            if self._process.returncode is None:
                self._process.kill()
        raise StartFailed(message[1], message[2])

    def send(self, job: LazyJob) -> None:
        """Hand ``job`` over; the ack path's only cost is an append (no I/O)."""
        self._outbox.put(job)

    def answering(self) -> AbstractContextManager[None]:
        """Entered while the front answers Slack (the work process holds work back)."""
        return self.in_flight.answering()

    def running(self) -> bool:
        """Started, and ready for jobs."""
        ready = (self._process is not None and not self._exited.is_set()
                 and self._channels.heartbeat.is_ready())
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
        body, content_type = self._ask("metrics", accept)
        return bytes(body), str(content_type)

    def database_health(self) -> DatabaseAnswer:
        """The database's health as the work process probes it (a write that changes
        nothing); "unknown" while it cannot answer."""
        try:
            state, detail = self._ask("health", None)
        except Unanswered:
            return DatabaseAnswer("unknown", "the work process, which probes it, is not running")
        return DatabaseAnswer(str(state), str(detail))

    def _ask(self, what: str, argument: object) -> Any:
        with self._control_lock:
            if self.state() != "running":  # a stopped process would keep the asker waiting
                raise Unanswered("the work process is not running")
            control = self._channels.control
            sequence = next(self._sequence)
            try:
                control.send((sequence, what, argument))
                deadline = time.monotonic() + CONTROL_TIMEOUT_S
                while control.poll(max(0.0, deadline - time.monotonic())):
                    message = control.recv()
                    if message[0] == "answer" and message[1] == sequence:
                        return message[2]  # earlier answers came too late for their asker
            except (EOFError, OSError):
                raise Unanswered("the work process is gone") from None
            raise Unanswered("the work process did not answer in time")

    def stop(self, timeout: float = 30.0) -> None:
        """Hand over what was acked, let the process finish what it holds, then end it."""
        self._stopping.set()
        self._outbox.close()
        self._sender.join(timeout)
        process = self._process
        if process is None:
            return
        with suppress(OSError):  # already gone
            self._channels.jobs.send(None)
        if not self._wait_exit(timeout):
            log.warning("the work process did not stop in %.0f s; terminating it", timeout)
            process.terminate()
            self._wait_exit(5)
        self._store_unconfirmed()  # it stopped before it stored them: the next bot runs them

    def _wait_exit(self, timeout: float) -> bool:
        """Whether the process ended within ``timeout``. The supervisor is its one waiter."""
        supervisor = self._supervisor
        if supervisor is not None and supervisor.is_alive():
            supervisor.join(timeout)  # stopping: it returns once the process has ended
            return self._exited.is_set()
        process = self._process
        if process is None:
            return True
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _deliver(self, jobs: list[LazyJob]) -> None:
        with self._unconfirmed_lock:
            if self._failed or not self.running():  # nobody to take them now
                self._store(jobs)
                return
            for job in jobs:
                self._unconfirmed[str(job.id)] = job
            with suppress(OSError):  # it died: its death stores every unconfirmed job
                self._channels.jobs.send(jobs)

    def _store_unconfirmed(self) -> None:
        with self._unconfirmed_lock:
            jobs, self._unconfirmed = list(self._unconfirmed.values()), {}
            self._store(jobs)

    def _store(self, jobs: list[LazyJob]) -> None:
        """The front's own write: the next work process (or the next bot) runs them."""
        if not jobs:
            return
        try:
            if self._spool is None:
                raise StoreUnavailable("the work process never said where the database is")
            self._spool.add([to_stored(job, str(job.id)) for job in jobs])
        except StoreUnavailable as exc:
            log.error("%d acked lazy jobs are lost: the work process cannot take them and "
                      "the database cannot keep them (%s)", len(jobs), exc)
            return
        log.warning("%d acked lazy jobs are stored for the next work process", len(jobs))

    def _confirmed(self, ids: list[str]) -> None:
        with self._unconfirmed_lock:
            for job_id in ids:
                self._unconfirmed.pop(job_id, None)

    def _open_channels(self) -> Channels:
        channels = open_channels(next(self._incarnations))
        channels.confirmations = threading.Thread(
            target=read_confirmations, args=(channels, self._confirmed), daemon=True,
            name="job-confirmations")
        channels.confirmations.start()
        return channels

    def _spawn(self, previous_owner: str | None) -> None:
        channels = self._channels
        process = spawn(self._spec, channels, self._front_page, previous_owner)
        self._exited.clear()
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
                    log.error("gave up restarting the work process: the acked work it stored "
                              "runs at the next start of the bot")
                    return
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                if self._stopping.wait(backoff):
                    return

    def _restart_when_dead(self, backoff: float) -> float:
        """Wait for the process to die and start the next one; the next backoff."""
        started = time.monotonic()
        process = self._process
        if process is not None and not self._exited.is_set():
            process.wait()
            self._exited.set()
        if self._stopping.is_set():
            return backoff
        dead = self._channels
        self._was_ready = self._was_ready or dead.heartbeat.is_ready()
        if dead.confirmations is not None:  # what it said it stored is not stored again
            dead.confirmations.join(CONTROL_TIMEOUT_S)
        self._store_unconfirmed()
        with self._control_lock:
            self._channels = self._open_channels()
        for connection in (dead.jobs, dead.control):
            connection.close()
        lived = time.monotonic() - started
        backoff = FIRST_BACKOFF_S if lived > HEALTHY_AFTER_S else min(backoff * 2,
                                                                      MAX_BACKOFF_S)
        self.restarts += 1
        log.error("the work process exited (code %s) after %.0f s; restarting in %.0f s",
                  process.returncode if process else None, lived, backoff)
        if self._stopping.wait(backoff):
            return backoff
        self._spawn(previous_owner=dead.owner)
        return backoff


class Unanswered(RuntimeError):
    """The work process could not answer (not running, gone, or too slow)."""

