"""One incarnation of the work process, as the front starts it: its two sockets and its page
of shared memory (``Channels``), and the child itself, ``python -c`` with this interpreter's
flags, the descriptors it inherits and its ``ChildStart`` pickled to its standard input."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from bot.in_flight import JobLoopHeartbeat, SharedPage
from bot.work_start import ChildStart, WorkSpec

CHILD = "from bot.work_child import run_from_stdin; run_from_stdin()"


@dataclass
class Channels:
    """What one incarnation talks through (new ones for each restart)."""

    jobs: Connection  # batches to it; "stored" confirmations back
    control: Connection  # its start-up result; metrics and health asked and answered
    heartbeat: JobLoopHeartbeat  # beaten by its job loop; says when it is ready
    page: SharedPage
    child_fds: tuple[int, int]
    owner: str  # the token its claims on stored jobs carry
    confirmations: threading.Thread | None = None


def open_channels(incarnation: int) -> Channels:
    jobs, child_jobs = socket.socketpair()
    control, child_control = socket.socketpair()
    owner = f"{socket.gethostname()}:{os.getpid()}:{incarnation}:{uuid.uuid4().hex[:8]}"
    page = SharedPage()
    return Channels(Connection(jobs.detach()), Connection(control.detach()),
                    JobLoopHeartbeat(page), page, (child_jobs.detach(), child_control.detach()),
                    owner[:128])


def spawn(spec: WorkSpec, channels: Channels, front_page: SharedPage,
          previous_owner: str | None) -> subprocess.Popen[bytes]:
    """Start the child; only its copies of the sockets and of its page stay open."""
    jobs_fd, control_fd = channels.child_fds
    start = ChildStart(spec, jobs_fd, control_fd, front_page.fd, channels.page.fd,
                       channels.owner, previous_owner, os.getpid())
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own code
        [sys.executable, *_interpreter_flags(), "-c", CHILD], stdin=subprocess.PIPE,
        pass_fds=(jobs_fd, control_fd, front_page.fd, channels.page.fd))
    for fd in (jobs_fd, control_fd, channels.page.fd):
        os.close(fd)
    if process.stdin is not None:
        # sys.path first: a test's gateway factory is found by reference
        process.stdin.write(pickle.dumps(list(sys.path)) + pickle.dumps(start))
        process.stdin.close()
    return process


def read_confirmations(channels: Channels, confirmed: Callable[[list[str]], None]) -> None:
    """The child's "stored" answers, until its end of the jobs' socket closes."""
    while True:
        try:
            kind, ids = channels.jobs.recv()
        except (EOFError, OSError):
            return
        if kind == "stored":
            confirmed(ids)


def _interpreter_flags() -> list[str]:
    """This interpreter's flags (-I, -O, -X …): the helper multiprocessing's spawn uses."""
    return list(subprocess._args_from_interpreter_flags())  # type: ignore[attr-defined]
