"""The bot as users get it: a wheel built from this tree, installed with requirements.lock
into a fresh virtualenv outside the repository, and run as its console script from an empty
folder. Used by ``test_wheel.py`` and ``bench/startup.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[3]
# What a wheel is built from: the files a fresh clone has that setuptools reads.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "bot", "failover_sandbox")
T = TypeVar("T")


def build_wheel(into: Path) -> Path:
    """``pip wheel`` on a copy of the tree, so that no build/ or egg-info lands in the repo."""
    source = into / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    dist = into / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
          str(dist), str(source)])
    (wheel,) = dist.glob("failover_bot-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> InstalledBot:
    """A fresh virtualenv with exactly the pins of requirements.lock, then the wheel."""
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
          "-r", str(ROOT / "requirements.lock"), str(wheel)])
    _run([str(python), "-m", "pip", "check"])
    return InstalledBot(venv, wheel)


def _run(command: list[str]) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


# Settings a developer's shell may carry that would change what the installed bot does.
_INHERITED_PREFIXES = ("BOT_", "SLACK_", "AZURE_", "DATABASE_", "PYTHON", "VIRTUAL_ENV",
                       "PORT", "POSTGRES_")


@dataclass(frozen=True)
class InstalledBot:
    venv: Path
    wheel: Path

    @property
    def script(self) -> str:
        return str(self.venv / "bin" / "failover-bot")

    def env(self, **settings: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
        clean["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{clean.get('PATH', '')}"
        return {**clean, "PYTHONUNBUFFERED": "1", **settings}

    def run(self, args: list[str], cwd: Path, *, timeout: float = 90,
            **settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.script, *args], cwd=cwd, env=self.env(**settings),
                              capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)

    def start(self, args: list[str], cwd: Path, logs: Path,
              **settings: str) -> subprocess.Popen[bytes]:
        """Started in a session of its own; stdout and stderr go to files in ``logs``."""
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
            return subprocess.Popen([self.script, *args], cwd=cwd, env=self.env(**settings),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, as a container runtime sends it; the exit status."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def wait_for(what: str, check: Callable[[], T | None], process: subprocess.Popen[bytes],
             logs: Path, timeout: float = 60) -> T:
    """Poll ``check`` until it is truthy; fail at the deadline or when the process exits."""
    def gave_up() -> str | None:
        if process.poll() is None:
            return None
        return (f"exited ({process.returncode})\n"
                + (logs / "stderr").read_text(errors="replace")[-3000:])

    return wait_until(what, check, timeout=timeout, step=0.02, gave_up=gave_up)


def http_json(url: str) -> Mapping[str, object] | None:
    """The JSON body of a 200 answer, or None when nothing (good) answers yet."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
