"""Memory: every process ``serve`` starts, measured from outside (issue #25, item 1).

Goal: the whole bot — every process it starts, RSS summed — at or under 150 MB idle and under
200 MB while a regional batch of 1,000 hubs runs.

Two grounds, against a fake Slack Web API (``failover_sandbox.slack_api``) on loopback:

* **installed** — the wheel built from this tree, installed with requirements.lock into a fresh
  virtualenv outside the repository, ``failover-bot serve`` started from an empty folder (as a
  user runs it; ``tests/integration/packaging/wheel_install.py``): idle only, since it talks
  to the real ``https://management.azure.com`` (made-up credentials; idle needs no Azure).
* **drill** — the real ``serve`` (``bot.serve.serve``, its front, its spawned work process and
  whatever helper they start) as the process drills run it (``tests/drills/serve_harness.py``,
  entry ``python -m tests.drills.bot_process``): its Azure SDK's wire is diverted to a fake ARM
  (``tests/drills/arm_server.py``) holding N hubs in West Europe. Measured idle, after one
  failover (command, dialog, approval, Azure ends it, completion posted), and while a regional
  batch of every hub runs (``/iothub failover --region West Europe``, the dialog, a second
  person's Approve; the fake Azure ends each operation as soon as it runs) until every hub
  succeeded.

Every process in the bot's tree is found in /proc (children of children), named by its
command line, and sampled every 100 ms: RSS (``VmRSS``) and PSS (``smaps_rollup``; shared pages
are counted once there, split between the processes sharing them, so PSS sums to what the bot
really holds while summed RSS counts shared pages twice). The goal is stated in summed RSS.
``--quick``: 100 hubs and shorter settling; ``--hubs N``; ``--no-wheel``: skip the installed
ground; ``--env NAME=VALUE`` (repeatable): a setting for the bot, to try a cut (e.g.
``MALLOC_ARENA_MAX=2``). The "before" column is this bench's run before any memory work.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO_ROOT, argument_parser, header, installed_serve_env, table, verdict

sys.path.insert(1, str(REPO_ROOT / "tests" / "integration" / "packaging"))

from wheel_install import (  # after the sys.path line above
    InstalledBot,
    build_wheel,
    http_json,
    install,
    stop,
    wait_for,
)

from bot.domain.request import RequestStatus
from failover_sandbox.slack_api import FakeSlackServer
from failover_sandbox.workspace import SandboxWorkspace
from tests.drills import batch_views
from tests.drills.arm_server import ArmServer
from tests.drills.conftest import HUB
from tests.drills.serve_harness import ALICE, BOB, Drill, drill_workspace, request_id_of
from tests.support import free_port

IDLE_GOAL_MB = 150.0
BATCH_GOAL_MB = 200.0
SAMPLE_EVERY = 0.1  # seconds
REGION = "West Europe"
# Before any memory work: this bench's figures at commit 704cb42 (1,000 hubs), RSS MB by
# process. (Issue #25 measured the installed wheel idle at front 98, work 95 — 106 after one
# failover — and a "32 MB helper": the helper, multiprocessing's resource tracker, measures
# 12 MB here.)
BEFORE_HUBS = 1_000
BEFORE = {
    "installed: idle": {"front": 98.4, "work": 95.1, "helper": 12.1},
    "drill: idle": {"front": 104.9, "work": 102.0, "helper": 12.7},
    "drill: after one failover": {"front": 105.4, "work": 114.9, "helper": 12.7},
    "drill: regional batch (peak)": {"front": 105.6, "work": 193.7, "helper": 12.7},
    "drill: idle after the batch": {"front": 105.6, "work": 193.1, "helper": 12.7},
}
BEFORE_SUMS = {"installed: idle": 205.6, "drill: idle": 219.6,
               "drill: after one failover": 233.0, "drill: regional batch (peak)": 312.1,
               "drill: idle after the batch": 311.5}  # the sums' peaks
MB = 1024 * 1024


# ---- /proc ---------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:  # pid (comm) state ppid …; comm may hold spaces and parentheses
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and every living descendant (children of children), by ppid in /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[0] not in ("Z", "X"):
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is not None:
            tree.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(tree)


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def role(pid: int, root: int) -> str:
    """What the process is, from its command line: the front (the started process), the work
    process (``bot.work_child``; before, multiprocessing's spawn child), multiprocessing's
    resource tracker (the bot had one before it started its work process itself), or
    something else."""
    line = cmdline(pid)
    if pid == root:
        return "front"
    if "resource_tracker" in line:
        return "helper"
    if "forkserver" in line:
        return "forkserver"
    if "spawn_main" in line or "bot.work_child" in line:
        return "work"
    return "other"


def rss_pss_threads(pid: int) -> tuple[float, float, int] | None:
    """RSS and PSS in MB and the thread count (None if the process is gone)."""
    try:
        rss = pss = 0.0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
        status = Path(f"/proc/{pid}/status").read_text()
        threads = int(status.partition("Threads:")[2].split()[0])
        return rss, pss, threads
    except (OSError, ValueError, IndexError):
        return None


# ---- sampling --------------------------------------------------------------------------------

@dataclass
class Sample:
    at: float
    by_pid: dict[int, tuple[str, float, float, int]]  # pid -> (role, RSS MB, PSS MB, threads)

    @property
    def rss(self) -> float:
        return sum(r for _, r, _, _ in self.by_pid.values())

    @property
    def pss(self) -> float:
        return sum(p for _, _, p, _ in self.by_pid.values())


@dataclass
class Sampler:
    """Samples the bot's tree every 100 ms on a thread; phases read windows of it."""

    root: Callable[[], int | None]
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> Sample | None:
        root = self.root()
        if root is None:
            return None
        by_pid = {}
        for pid in process_tree(root):
            figures = rss_pss_threads(pid)
            if figures is not None:
                by_pid[pid] = (role(pid, root), *figures)
        return Sample(time.monotonic(), by_pid)

    def __enter__(self) -> Sampler:
        def run() -> None:
            while not self._stop.wait(SAMPLE_EVERY):
                sample = self.sample()
                if sample is not None:
                    self.samples.append(sample)

        self._thread = threading.Thread(target=run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def since(self, started: float) -> list[Sample]:
        return [s for s in list(self.samples) if s.at >= started]


@dataclass
class Figures:
    """One phase: each process's RSS and PSS (MB) and the sums. For a window, each process's
    peak and the peak of the sums (the sums' peak is one moment; the processes' may not be)."""

    phase: str
    processes: dict[int, tuple[str, float, float, int]]
    rss: float
    pss: float
    samples: int
    seconds: float


def peak(phase: str, samples: list[Sample]) -> Figures:
    assert samples, f"no sample in {phase}"
    processes: dict[int, tuple[str, float, float, int]] = {}
    for s in samples:
        for pid, (name, rss, pss, threads) in s.by_pid.items():
            _, top_rss, top_pss, top_threads = processes.get(pid, (name, 0.0, 0.0, 0))
            processes[pid] = (name, max(rss, top_rss), max(pss, top_pss),
                              max(threads, top_threads))
    return Figures(phase, processes, max(s.rss for s in samples), max(s.pss for s in samples),
                   len(samples), samples[-1].at - samples[0].at)


def settled(phase: str, sampler: Sampler, settle: float, window: float) -> Figures:
    """Idle: wait ``settle`` seconds, then the peak over a ``window`` of samples."""
    time.sleep(settle)
    started = time.monotonic()
    time.sleep(window)
    return peak(phase, sampler.since(started))


# ---- the installed wheel -------------------------------------------------------------------

def installed_idle(where: Path, slack: FakeSlackServer, settle: float, window: float,
                   extra_env: dict[str, str]) -> tuple[Figures, dict[int, str]]:
    print("-- building the wheel and installing it into a fresh virtualenv …", flush=True)
    bot: InstalledBot = install(build_wheel(where / "build"), where / "venv")
    port = free_port()
    cwd = Path(tempfile.mkdtemp(dir=where))
    env = {**installed_serve_env(slack.api_url, cwd, port), **extra_env}

    def healthy() -> bool:
        health = http_json(f"http://127.0.0.1:{port}/healthz")
        return bool(health and health.get("status") == "ok"
                    and health.get("work_process") == "running")

    process = bot.start(["serve"], cwd, cwd / "logs", **env)
    try:
        wait_for("/healthz ok", healthy, process, cwd / "logs")
        with Sampler(lambda: process.pid) as sampler:
            figures = settled("installed: idle", sampler, settle, window)
        return figures, {pid: cmdline(pid) for pid in process_tree(process.pid)}
    finally:
        stop(process)


# ---- the drill ground ----------------------------------------------------------------------

@contextlib.contextmanager
def drill_ground(where: Path, hubs: int) -> Iterator[Drill]:
    workspace = drill_workspace()
    with ArmServer() as arm, FakeSlackServer(workspace) as slack:
        arm.add_hub(HUB, "westeurope", "northeurope", devices=20_000)
        for i in range(hubs - 1):
            arm.add_hub(f"weu-fleet-{i:04d}", "westeurope", "northeurope", devices=1_000 + i)
        drill = Drill(where, arm, slack, workspace, f"sqlite:///{where / 'bot.db'}")
        try:
            yield drill
        finally:
            drill.close()


def one_failover(drill: Drill) -> None:
    """Alice asks for HUB, Bob approves, Azure ends it, the completion is posted."""
    approval = drill.request_failover()
    request_id = request_id_of(approval)
    drill.approve(approval)
    drill.wait_for("the failover to run",
                   lambda: drill.row(request_id).status == RequestStatus.RUNNING)
    # RUNNING is stored before the POST is sent: end the operation once Azure has it.
    drill.wait_for("Azure to take the POST", lambda: drill.arm.emulator.hub(HUB).operation)
    drill.arm.finish_operation(HUB)
    drill.wait_completion_recorded(request_id, approval)


def regional_batch(drill: Drill, hubs: int, timeout: float) -> tuple[str, int, float]:
    """Every eligible hub of West Europe (HUB moved away: ``hubs - 1`` of them) as one batch,
    run to the end; how long each stage took, how many hubs succeeded, and when Approve was
    clicked (``time.monotonic()``)."""
    asked = time.monotonic()
    console = drill.console()
    assert console.slash_command(ALICE.id, f"/iothub failover --region {REGION}")["ok"]
    modal = drill.wait_for("the regional dialog", lambda: batch_views.regional_modal(drill),
                           timeout=120)
    assert console.submit(ALICE.id, modal["id"], {
        "confirm_region": {"confirm_region": REGION},
        "reason": {"reason": "INC-25 West Europe is down"}})["ok"]
    dialog = time.monotonic()
    board = drill.wait_for("the batch's board", lambda: batch_views.board(drill), timeout=120)
    approve = batch_views.button(board, "approve")
    assert approve is not None
    batch_id = str(approve["value"])
    started = time.monotonic()
    assert console.click(BOB.id, board.ts, approve)["ok"]
    done = 0

    def finished() -> bool:
        nonlocal done
        drill.arm.finish_running_operations()  # Azure ends each failover once it runs
        members = batch_views.members(drill, batch_id)
        done = sum(r.status == RequestStatus.SUCCEEDED for r in members)
        return len(members) == hubs - 1 and done == hubs - 1

    with contextlib.suppress(AssertionError, TimeoutError):
        drill.wait_for("every hub of the batch to succeed", finished, timeout=timeout)
    ended = time.monotonic()
    return (f"command → dialog listing the hubs {dialog - asked:.0f} s, submit → board "
            f"{started - dialog:.0f} s, Approve → last success {ended - started:.0f} s"), done, \
        started


def drill_phases(where: Path, hubs: int, settle: float, window: float, batch_timeout: float,
                 extra_env: dict[str, str]) -> tuple[list[Figures], dict[int, str], str]:
    with drill_ground(where, hubs) as drill:
        # Starting as fast as the bot allows (1,200 a minute): the batch's load is the point.
        drill.start_bot({"BOT_BATCH_MAX_STARTS_PER_MINUTE": "1200", **extra_env})
        with Sampler(lambda: drill.bot.process.pid if drill.bot else None) as sampler:
            idle = settled("drill: idle", sampler, settle, window)
            names = {pid: cmdline(pid) for pid in process_tree(drill.bot_pid())}
            _progress("one failover …")
            one_failover(drill)
            after = settled("drill: after one failover", sampler, settle, window)
            _progress(f"a regional batch of {hubs - 1:,} hubs …")
            started = time.monotonic()
            stages, done, approved = regional_batch(drill, hubs, batch_timeout)
            batch = peak("drill: regional batch (peak)", sampler.since(started))
            dialog = [s for s in sampler.since(started) if s.at < approved]
            note = (f"batch: {done:,} of {hubs - 1:,} hubs succeeded; {stages}; "
                    f"{batch.samples:,} samples")
            if dialog:
                before_run = peak("the dialog and the board", dialog)
                work = max(r for n, r, _, _ in before_run.processes.values() if n == "work")
                note += (f"\n   peak before Approve (the dialog and the board only): summed RSS "
                         f"{before_run.rss:.0f} MB, work process {work:.0f} MB")
            after_batch = settled("drill: idle after the batch", sampler, settle, window)
        names.update({pid: cmdline(pid) for pid in process_tree(drill.bot_pid())})
    return [idle, after, batch, after_batch], names, note


# ---- what imports cost ---------------------------------------------------------------------

# The front's imports in the order it meets them (bot.cli → bot.serve → … → uvicorn); then
# what only the work process imports (settings, SQL, migrations, Azure's SDK).
FRONT_IMPORTS = ("bot.cli", "bot.serve", "slack_sdk", "slack_bolt", "starlette.applications",
                 "prometheus_client", "bot.roles.front", "uvicorn", "bot.work_process")
# (Alembic is not among them: the work process migrates in a short-lived process of its own.)
WORK_ONLY_IMPORTS = ("pydantic", "pydantic_settings", "bot.config", "sqlalchemy", "sqlmodel",
                     "bot.store.sql", "azure.core", "azure.identity", "azure.mgmt.iothub",
                     "bot.roles.work")
_PROBE = """
import importlib, json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
steps = [["(interpreter)", rss(), len(sys.modules)]]
for name in sys.argv[1:]:
    importlib.import_module(name)
    steps.append([name, rss(), len(sys.modules)])
print(json.dumps(steps))
"""


def import_steps(names: list[str]) -> list[tuple[str, float, int]]:
    """RSS (MB) and module count after each import, in order, in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _PROBE, *names], cwd=REPO_ROOT, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}).stdout
    return [(name, rss, modules) for name, rss, modules in json.loads(out)]


def import_table() -> str:
    """Each import alone (a fresh interpreter each), and on top of those above it, in the
    front's order (what the front pays for it once its earlier imports are in)."""
    in_order = import_steps(list(FRONT_IMPORTS))
    rows: list[list[object]] = []
    for (name, rss, modules), (_, before_rss, before_modules) in zip(
            in_order[1:], in_order, strict=False):
        alone = import_steps([name])
        rows.append([name, alone[1][1] - alone[0][1], rss - before_rss, modules - before_modules,
                     rss])
    rows.append(["(the front's imports, summed)", "", in_order[-1][1] - in_order[0][1],
                 in_order[-1][2] - in_order[0][2], in_order[-1][1]])
    work = import_steps([*FRONT_IMPORTS, *WORK_ONLY_IMPORTS])[len(FRONT_IMPORTS):]
    for (name, rss, modules), (_, before_rss, before_modules) in zip(work[1:], work,
                                                                    strict=False):
        alone = import_steps([name])
        rows.append([f"{name} (work process only)", alone[1][1] - alone[0][1],
                     rss - before_rss, modules - before_modules, rss])
    return table(["import", "alone MB", "in order MB", "in order modules", "RSS after MB"],
                 rows)


def front_imports_now() -> list[str]:
    """Which big packages ``bot.serve`` + the front's role pull in (its modules, by top)."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, bot.cli, bot.serve, bot.roles.front, "
         "bot.web, uvicorn, bot.work_process, bot.work_spawn; "
         "print(' '.join(sorted({m.split('.')[0] for m in sys.modules "
         "if not m.startswith('_') and m.split('.')[0] not in sys.stdlib_module_names})))"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}).stdout
    return out.split()


# ---- printing ------------------------------------------------------------------------------

ROLES = ("front", "work", "helper")


def print_figures(figures: Figures, names: dict[int, str], hubs: int) -> None:
    # The batch's "before" is for 1,000 hubs; idle figures do not depend on the fleet's size.
    comparable = hubs == BEFORE_HUBS or "batch" not in figures.phase
    before = BEFORE.get(figures.phase, {}) if comparable else {}
    rows: list[list[object]] = []
    for pid, (name, rss, pss, threads) in sorted(
            figures.processes.items(),
            key=lambda kv: ROLES.index(kv[1][0]) if kv[1][0] in ROLES else len(ROLES)):
        rows.append([name, pid, rss, pss, threads, before.get(name, "–"),
                     _short(names.get(pid, ""))])
    rows.append(["sum (peak of sums)", "", figures.rss, figures.pss, "",
                 BEFORE_SUMS.get(figures.phase, "–") if comparable else "–", ""])
    print(f"\n-- {figures.phase}: {figures.samples} samples over {figures.seconds:.1f} s "
          f"(each process's peak)")
    print(table(["process", "pid", "RSS MB", "PSS MB", "threads", "before RSS MB",
                 "command line"], rows))


def _progress(what: str) -> None:
    print(f"-- {what}", flush=True)


def _short(line: str, width: int = 60) -> str:
    return line if len(line) <= width else line[:width - 1] + "…"


def main() -> int:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--hubs", type=int, default=None,
                        help="hubs in West Europe, the batch is every one but the first "
                             "(default 1,000; --quick 100)")
    parser.add_argument("--no-wheel", action="store_true",
                        help="skip the installed wheel's idle figures")
    parser.add_argument("--no-imports", action="store_true", help="skip the import table")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the drill's bot (repeatable), to try a cut: "
                             "MALLOC_ARENA_MAX=2, BOT_POLL_WORKERS=8, …")
    args = parser.parse_args()
    extra_env = dict(item.partition("=")[::2] for item in args.env)
    hubs = args.hubs or (100 if args.quick else 1_000)
    settle, window = (3.0, 2.0) if args.quick else (8.0, 3.0)
    header("memory footprint: every process of serve, RSS and PSS", args.quick)
    print(f"   {hubs:,} hubs in {REGION}; RSS sampled every {SAMPLE_EVERY * 1000:.0f} ms; "
          f"idle = the peak over {window:.0f} s after {settle:.0f} s settling; goal: summed "
          f"RSS ≤ {IDLE_GOAL_MB:.0f} MB idle, < {BATCH_GOAL_MB:.0f} MB under the batch")
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        where = Path(tmp)
        if not args.no_wheel:
            workspace = SandboxWorkspace()
            with FakeSlackServer(workspace) as slack:
                installed, names = installed_idle(where / "installed", slack, settle, window,
                                                  extra_env)
            print_figures(installed, names, hubs)
            if installed.rss > IDLE_GOAL_MB:
                failures.append(f"installed idle {installed.rss:.0f} MB > {IDLE_GOAL_MB:.0f}")
        (where / "drill").mkdir()
        _progress(f"the drill's serve, {hubs:,} hubs in the fake ARM"
                  + (f", with {extra_env}" if extra_env else "") + " …")
        phases, names, note = drill_phases(where / "drill", hubs, settle, window,
                                           batch_timeout=600.0, extra_env=extra_env)
    for figures in phases:
        print_figures(figures, names, hubs)
    print(f"   {note}")
    idle, after, batch, _ = phases
    for figures in (idle, after):
        if figures.rss > IDLE_GOAL_MB:
            failures.append(f"{figures.phase} {figures.rss:.0f} MB > {IDLE_GOAL_MB:.0f}")
    if batch.rss >= BATCH_GOAL_MB:
        failures.append(f"{batch.phase} {batch.rss:.0f} MB ≥ {BATCH_GOAL_MB:.0f}")
    if not args.no_imports:
        print("\n-- what importing costs: RSS of a fresh interpreter (~11 MB) after each import "
              "alone, and after it on top of the imports above it, in the front's order")
        print(import_table())
        print("   third-party packages in the front: " + " ".join(front_imports_now()))
    return verdict(failures, f"summed RSS idle {idle.rss:.0f} MB (PSS {idle.pss:.0f}), after "
                             f"one failover {after.rss:.0f} MB, {hubs - 1:,}-hub batch peak "
                             f"{batch.rss:.0f} MB (PSS {batch.pss:.0f})")


if __name__ == "__main__":
    sys.exit(main())
