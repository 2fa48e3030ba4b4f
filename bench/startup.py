"""Set-up and start-up as a user meets them: the wheel, installed, started from an empty folder.

Measures the wheel's size; the install time into a fresh virtualenv (``python -m venv`` plus
``pip install --no-deps -r requirements.lock <wheel>``, pip's cache warm after the first
run); the sandbox's ready time (start → the web console answers); and ``serve``'s ready time
(start → ``/healthz`` says ``ok`` with the work process running), against a local fake Slack
Web API. Medians of several runs. Target: both ready times well inside the Kubernetes
startupProbe's 60 s (max ≤ 20 s).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, header, installed_serve_env, median, parse_args, table, verdict

sys.path.insert(1, str(REPO_ROOT / "tests" / "integration" / "packaging"))

from wheel_install import (  # after the sys.path line above
    InstalledBot,
    build_wheel,
    http_json,
    http_ok,
    install,
    stop,
    wait_for,
)

from failover_sandbox.slack_api import FakeSlackServer
from tests.support import free_port

READY_LIMIT_S = 20.0


def install_times(wheel: Path, runs: int, where: Path) -> tuple[list[float], InstalledBot]:
    seconds, bot = [], None
    for run in range(runs):
        started = time.monotonic()
        bot = install(wheel, where / f"venv-{run}")
        seconds.append(time.monotonic() - started)
    assert bot is not None
    return seconds, bot


def sandbox_ready(bot: InstalledBot, where: Path) -> float:
    port = free_port(with_next=True)
    cwd = Path(tempfile.mkdtemp(dir=where))
    started = time.monotonic()
    process = bot.start(["sandbox", "--no-browser", "--port", str(port)], cwd, cwd / "logs")
    try:
        wait_for("the console", lambda: http_ok(f"http://127.0.0.1:{port}/"), process,
                 cwd / "logs")
        return time.monotonic() - started
    finally:
        stop(process)


def serve_ready(bot: InstalledBot, where: Path, slack: FakeSlackServer) -> float:
    port = free_port()
    cwd = Path(tempfile.mkdtemp(dir=where))
    env = installed_serve_env(slack.api_url, cwd, port)

    def healthy() -> bool:
        health = http_json(f"http://127.0.0.1:{port}/healthz")
        return bool(health and health.get("status") == "ok"
                    and health.get("work_process") == "running")

    started = time.monotonic()
    process = bot.start(["serve"], cwd, cwd / "logs", **env)
    try:
        wait_for("/healthz ok", healthy, process, cwd / "logs")
        return time.monotonic() - started
    finally:
        stop(process)


def main() -> int:
    args = parse_args(__doc__ or "")
    header("set-up and start-up of the installed wheel", args.quick)
    installs, starts = (2, 3) if args.quick else (3, 7)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        where = Path(folder)
        wheel = build_wheel(where)
        print(f"   wheel: {wheel.name}, {wheel.stat().st_size / 1024:.0f} KiB")
        install_s, bot = install_times(wheel, installs, where)
        size = subprocess.run(["du", "-sk", str(bot.venv)], capture_output=True, text=True,
                              check=True).stdout.split()[0]
        print(f"   installed virtualenv: {int(size) / 1024:.0f} MiB")
        sandbox_s = [sandbox_ready(bot, where) for _ in range(starts)]
        with FakeSlackServer() as slack:
            serve_s = [serve_ready(bot, where, slack) for _ in range(starts)]
    rows = [(name, len(values), min(values), median(values), max(values))
            for name, values in (("install (venv + pip, s)", install_s),
                                 ("sandbox ready (s)", sandbox_s),
                                 ("serve ready, both processes (s)", serve_s))]
    print(table(["measure", "runs", "min", "median", "max"], rows))
    failures = [f"{name} max {high:.1f}s > {READY_LIMIT_S:.0f}s"
                for name, _, _, _, high in rows[1:] if high > READY_LIMIT_S]
    return verdict(failures, f"sandbox ready {median(sandbox_s):.2f}s, serve ready "
                             f"{median(serve_s):.2f}s (medians)")


if __name__ == "__main__":
    raise SystemExit(main())
