"""The harness for drills on the real ``serve`` processes (kill -9, faults, slow Azure).

The bot is ``bot.serve.serve`` in a process of its own (``bot_process.py``), with its
production gateway and SDK talking HTTP to a fake Azure Resource Manager and a fake Slack, both
in this process so that they outlive it. People act as in Slack: a signed slash command, the
confirmation modal with the typed hub name, and a second person's Approve click. The fake ARM
holds an answer so that the kill lands exactly where the drill means it to; its time moves
only when the drill finishes the operation.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from sqlmodel import Session, col, select

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.slack.messages import APPROVE
from bot.slack.modals import NAME_INPUT, REASON_INPUT
from bot.store.sql import make_engine
from bot.store.tables import AuditEventRow, FailoverRequestRow, LazyJobRow
from failover_sandbox import payloads
from failover_sandbox.console import Channel, Console, Person
from failover_sandbox.slack_api import FakeSlackServer, Message
from failover_sandbox.workspace import SandboxWorkspace
from tests.support import free_port, wait_until

from .arm_server import SUBSCRIPTION, ArmServer
from .conftest import HUB, PHASE_REPORTS
from .fake_arm_wire import ARM_URL_VARIABLE

REPO = Path(__file__).resolve().parents[2]
CHANNEL = Channel("C0INCIDENT", "incident", "regional outage")
ALICE = Person("U0ALICE", "Alice", "on call", "alice")
BOB = Person("U0BOB", "Bob", "incident lead", "bob")
SIGNING_SECRET = "drill-signing-secret"  # made up: the fake Slack and the bot share it
WAIT = 45.0  # seconds: an upper bound for a loaded 2-core machine, not a pause
T = TypeVar("T")


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Drill:
    """The bot's processes, the people in Slack, and what the drill reads back."""

    def __init__(self, tmp_path: Path, arm: ArmServer, slack: FakeSlackServer,
                 workspace: SandboxWorkspace, db_url: str) -> None:
        self.tmp_path = tmp_path
        self.arm = arm
        self.slack = slack
        self.workspace = workspace
        self.db_url = db_url
        self.engine = make_engine(db_url)
        self.bot: Running | None = None
        self.logs: list[Path] = []
        self._code_copy: Path | None = None  # the code a bot of another user runs
        # Where people's requests go: the bot's /slack/events, unless a drill says otherwise
        # (Socket Mode: the bridge to the WebSocket, test_socket_mode.py).
        self.events_url: str | None = None

    # ---- the bot process -----------------------------------------------------------------

    def start_bot(self, extra_env: dict[str, str] | None = None, *, user: str | None = None,
                  wait_healthy: bool = True) -> None:
        """Start ``serve``; ``extra_env`` adds to (or overrides) the drill's settings.
        ``user``: run the bot as that user (where file permissions must bite: tests run as
        root). ``wait_healthy=False``: wait only until /healthz answers and the work process
        runs, whatever the database's state."""
        self.launch_bot(extra_env, user=user)
        if wait_healthy:
            self.wait_for("the bot to answer /healthz", self._healthy, check_alive=True)
        else:
            self.wait_for("the bot's work process to run",
                          lambda: self.health()[1].get("work_process") == "running")

    def start_bot_in_socket_mode(self, endpoint_url: str, events_url: str) -> None:
        """``serve`` with ``SLACK_APP_TOKEN``: the fake Web API's ``apps.connections.open``
        hands out ``endpoint_url`` (``socket_mode_server.SocketModeServer``), and people's
        requests go to ``events_url`` (its ``Bridge``) rather than to /slack/events."""
        self.workspace.socket_mode_url = endpoint_url
        self.events_url = events_url
        self.start_bot({"SLACK_APP_TOKEN": self.workspace.app_token})

    def launch_bot(self, extra_env: dict[str, str] | None = None, *,
                   user: str | None = None) -> None:
        """Start the bot's processes and return at once (``start_bot`` then waits)."""
        assert self.bot is None, "one bot at a time"
        port = free_port()
        log = self.tmp_path / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "BOT_", "AZURE_", "DATABASE_", "DRILL_"))}
        env.update({
            "PYTHONPATH": str(REPO if user is None else self._code_any_user_reads()),
            "PYTHONUNBUFFERED": "1",
            ARM_URL_VARIABLE: self.arm.url,
            "SLACK_BOT_TOKEN": self.workspace.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url, "DATABASE_URL": self.db_url,
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "BOT_REQUIRE_APPROVAL": "true",
            # Short, so that the drill is quick: a poll a second, a lease a kill outlives.
            "BOT_POLL_INTERVAL": "1s", "BOT_LEASE_TTL": "5s", "BOT_LOG_LEVEL": "INFO",
        })
        env.update(extra_env or {})
        with log.open("wb") as stderr:
            # A session of its own: the kill takes the whole process group, as a pod kill does
            # (the bot may have worker children). cwd: no stray .env is read.
            process = subprocess.Popen(
                [*as_user(user), sys.executable, "-m", "tests.drills.bot_process",
                 "--port", str(port)],
                cwd=self.tmp_path, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        self.bot = Running(process, port)

    def _code_any_user_reads(self) -> Path:
        """The bot's code, copied once where any user may read it. The checkout may live
        where only root may enter (a clone under a mode-700 directory), and ``as_user``'s
        capability does not help everywhere: Alembic looks for its migrations with
        access(2), which judges a non-root user without it ("Path doesn't exist")."""
        if self._code_copy is None:
            copy = Path(tempfile.mkdtemp(prefix="failover-bot-drill-code-"))
            copy.chmod(0o755)
            shutil.copytree(REPO / "bot", copy / "bot",
                            ignore=shutil.ignore_patterns("__pycache__"))
            (copy / "tests" / "drills").mkdir(parents=True)
            for module in ("__init__.py", "bot_process.py", "fake_arm_wire.py"):  # the entry point
                shutil.copy(REPO / "tests" / "drills" / module, copy / "tests" / "drills")
            for path in (copy, *copy.rglob("*")):
                path.chmod(0o755 if path.is_dir() else 0o644)
            self._code_copy = copy
        return self._code_copy

    def health(self, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
        """The status code and JSON body of /healthz or /readyz (0 and {} if no answer)."""
        assert self.bot is not None
        try:
            answer = requests.get(self.bot.url + path, timeout=5)
        except requests.RequestException:
            return 0, {}
        return answer.status_code, dict(answer.json())

    def log_records(self) -> list[dict[str, Any]]:
        """The current bot's JSON log lines (both its processes write to one file)."""
        records = []
        for line in self.logs[-1].read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                records.append(dict(json.loads(line)))
        return records

    def _healthy(self) -> bool:
        assert self.bot is not None
        try:
            health = requests.get(self.bot.url + "/healthz", timeout=2)
        except requests.RequestException:
            return False
        # "ok": the database is reachable and the work process (lazy work, poller) is up.
        return health.status_code == 200 and health.json().get("status") == "ok"

    def kill_bot(self) -> None:
        """``kill -9`` on the bot's whole process group: no cleanup of any kind runs."""
        assert self.bot is not None
        group = self.bot.process.pid  # its own session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(group, signal.SIGKILL)
        self.bot.process.wait(timeout=WAIT)
        self.bot = None
        # Its work process too: nothing of the old bot may act once the drill goes on.
        self.wait_for("the bot's process group to die", lambda: not _living_in_group(group))

    def work_process_pid(self) -> int:
        """The pid of the bot's work process (the front's spawned child that runs jobs)."""
        assert self.bot is not None
        return self.wait_for("the work process", lambda: _spawned_child(self.bot_pid()))

    def bot_pid(self) -> int:
        assert self.bot is not None
        return self.bot.process.pid

    def kill_work_process(self) -> int:
        """``kill -9`` on the work process only: the front lives on and restarts it."""
        pid = self.work_process_pid()
        os.kill(pid, signal.SIGKILL)
        self.wait_for("the work process to die", lambda: not _alive(pid))
        return pid

    def close(self) -> None:
        if self.bot is not None:
            self.kill_bot()
        self.engine.dispose()
        if self._code_copy is not None:
            shutil.rmtree(self._code_copy, ignore_errors=True)

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float = WAIT, *,
                 check_alive: bool = True) -> T:
        """Poll ``check`` until it is truthy; fail at the deadline or when the bot dies."""
        def gave_up() -> str | None:
            if check_alive and self.bot is not None and self.bot.process.poll() is not None:
                return f"the bot exited ({self.bot.process.returncode})"
            return None

        return wait_until(what, check, timeout=timeout, gave_up=gave_up)

    # ---- people in Slack ---------------------------------------------------------------------

    def console(self) -> Console:
        assert self.bot is not None
        return Console(self.workspace, response_url=self.slack.response_url,
                       bot_url=self.events_url or self.bot.url + "/slack/events",
                       signing_secret=SIGNING_SECRET,
                       channel=CHANNEL, people=[ALICE, BOB])

    def request_failover(self) -> Message:
        """Alice runs the command, types the hub's name in the modal and submits it; returns
        the approval message the bot posts in the channel."""
        console = self.console()
        assert console.slash_command(ALICE.id, f"/iothub failover {HUB}")["ok"]
        view = self.wait_for("the confirmation modal", self._confirmation_modal)
        submitted = console.submit(ALICE.id, view["id"], {
            NAME_INPUT: {NAME_INPUT: HUB}, REASON_INPUT: {REASON_INPUT: "INC-9 regional outage"}})
        assert submitted["ok"], submitted
        return self.wait_for("the approval message", self._approval_message)

    def _confirmation_modal(self, hub: str = HUB) -> dict[str, Any] | None:
        for modal in self.workspace.snapshot()["views"]:
            blocks = modal["view"].get("blocks") or []
            if (modal["user"] == ALICE.id and not modal["closed"]
                    and hub in str(modal["view"].get("private_metadata"))
                    and any(b.get("block_id") == NAME_INPUT for b in blocks)):
                return dict(modal["view"])
        return None

    def open_dialog(self, hub: str) -> dict[str, Any]:
        """Alice runs ``/iothub failover <hub>``; returns the filled confirmation modal."""
        assert self.console().slash_command(ALICE.id, f"/iothub failover {hub}")["ok"]
        return self.wait_for(f"the confirmation modal for {hub}",
                             lambda: self._confirmation_modal(hub))

    def submit_dialog(self, view: dict[str, Any], hub: str) -> None:
        """Alice types the hub's name and a reason, and submits (acked: the bot answered)."""
        submitted = self.console().submit(ALICE.id, view["id"], {
            NAME_INPUT: {NAME_INPUT: hub}, REASON_INPUT: {REASON_INPUT: "INC-9 regional outage"}})
        assert submitted["ok"], submitted

    def view(self, view_id: str) -> dict[str, Any]:
        return dict(self.workspace.views[view_id].view)

    def command(self, line: str, person: Person = ALICE) -> tuple[int, str]:
        """A slash command from ``person``; returns the HTTP status of the ack and the token of
        its ``response_url`` (see :meth:`answers`)."""
        assert self.bot is not None
        command, _, text = line.partition(" ")
        token = self.workspace.response_token_for(person.id, CHANNEL.id)
        body = payloads.slash_command(
            command=command, text=text, user_id=person.id, user_name=person.handle,
            team_id=self.workspace.team_id, channel_id=CHANNEL.id, channel_name=CHANNEL.name,
            response_url=self.slack.response_url(token),
            trigger_id=self.workspace.trigger_for(person.id))
        answer = requests.post(self.bot.url + "/slack/events", data=body.encode(), timeout=10,
                               headers=payloads.signed_headers(body, SIGNING_SECRET))
        return answer.status_code, token

    def answers(self, token: str) -> list[dict[str, Any]]:
        """What the bot posted to one command's ``response_url``."""
        return [post.body for post in list(self.workspace.responses) if post.token == token]

    def _approval_message(self) -> Message | None:
        return next((m for m in self.workspace.messages(CHANNEL.id, top_level=True)
                     if approve_button(m)), None)

    def approve(self, message: Message) -> None:
        """Bob clicks Approve under Alice's request."""
        button = approve_button(message)
        assert button is not None
        clicked = self.console().click(BOB.id, message.ts, button)
        assert clicked["ok"], clicked

    def wait_completion_recorded(self, request_id: str, approval: Message,
                                 timeout: float = WAIT) -> None:
        """Until the request succeeded, its completion is posted in the thread and the bot
        recorded that it was (so a restart would not post it again)."""

        def announced() -> bool:
            row = self.row(request_id)
            return (row.status == RequestStatus.SUCCEEDED and row.notified_version >= row.version
                    and bool(self.completion_posts(approval)))

        self.wait_for("the completion to be posted and recorded", announced, timeout)

    def completion_posts(self, approval: Message) -> list[Message]:
        """Completion replies: the only thread replies broadcast to the channel."""
        return [m for m in self.workspace.thread(CHANNEL.id, approval.ts) if m.reply_broadcast]

    # ---- the database ------------------------------------------------------------------------

    def row(self, request_id: str) -> FailoverRequestRow:
        """The request as stored, with the poller's bookkeeping (lease, notified version)."""
        with Session(self.engine) as session:
            row = session.get(FailoverRequestRow, request_id)
            assert row is not None, request_id
            return row

    def requests_for(self, hub: str) -> list[FailoverRequestRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(FailoverRequestRow).where(
                FailoverRequestRow.hub_name == hub)))

    def pending_jobs(self) -> list[LazyJobRow]:
        """Lazy jobs acked and stored but not done yet."""
        with Session(self.engine) as session:
            return list(session.exec(select(LazyJobRow)))

    def audit(self, request_id: str) -> list[AuditAction]:
        with Session(self.engine) as session:
            rows = session.exec(select(AuditEventRow).where(
                AuditEventRow.request_id == request_id).order_by(col(AuditEventRow.id)))
            return [AuditAction(r.action) for r in rows]


def as_user(user: str | None) -> list[str]:
    """A command prefix that runs as ``user`` with no privilege but reading and searching
    any file (the interpreter and its virtualenv may live where only root may look): its own
    writes obey file permissions, which is what a drill on a read-only database needs. Its
    code comes from a copy any user reads (``Drill._code_any_user_reads``)."""
    if user is None:
        return []
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _spawned_child(parent: int) -> int | None:
    """The child of ``parent`` that is its work process (``bot.work_child``)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
            if (int(fields[1]) == parent and b"bot.work_child" in cmdline
                    and fields[0] not in ("Z", "X")):
                return int(stat.parent.name)
    return None


def _living_in_group(group: int) -> list[int]:
    """Processes of ``group`` that are not zombies (an orphan's zombie waits for its reaper)."""
    living = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == group and fields[0] not in ("Z", "X"):
                living.append(int(stat.parent.name))
    return living


def approve_button(message: Message) -> dict[str, Any] | None:
    for block in message.blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == APPROVE:
                return {"action_id": APPROVE, "block_id": block.get("block_id") or "",
                        "value": element.get("value"), "text": "Approve"}
    return None


def drill_workspace() -> SandboxWorkspace:
    """The incident channel, with Alice (on-call) and Bob (the approver)."""
    workspace = SandboxWorkspace()
    workspace.add_channel(CHANNEL.id, CHANNEL.name)
    for person in (ALICE, BOB):
        workspace.add_user(person.id, person.handle)
    return workspace


@contextlib.contextmanager
def running_drill(request: pytest.FixtureRequest, tmp_path: Path,
                  db_url: str) -> Iterator[Drill]:
    """A drill ground with one hub; prints the bot's logs when the test fails."""
    workspace = drill_workspace()
    with ArmServer() as arm, FakeSlackServer(workspace) as slack:
        arm.add_hub(HUB, "westeurope", "northeurope", devices=20_000)
        ground = Drill(tmp_path, arm, slack, workspace, db_url)
        try:
            yield ground
        finally:
            ground.close()
            reports = request.node.stash.get(PHASE_REPORTS, {})
            if any(r.failed for r in reports.values()):
                for log in ground.logs:
                    print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-20_000:]}")


def request_id_of(approval: Message) -> str:
    button = approve_button(approval)
    assert button is not None
    return str(button["value"])
