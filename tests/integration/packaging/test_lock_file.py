"""requirements.lock is what the image installs with --no-deps: it must pin everything."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def locked() -> dict[str, str]:
    if not LOCK.exists():
        pytest.fail("requirements.lock is missing: the Dockerfile installs from it")
    pins: dict[str, str] = {}
    for raw in LOCK.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("--hash"):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {raw!r}"
        pins[canonicalize_name(match.group(1))] = match.group(3)
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(spec) for spec in project["dependencies"]]


def test_every_line_is_an_exact_pin_and_the_bot_itself_is_not_in_it() -> None:
    pins = locked()
    assert pins
    assert canonicalize_name("failover-bot") not in pins


def test_the_lock_satisfies_pyproject_and_everything_it_pulls_in() -> None:
    pins = locked()
    missing: list[str] = []
    seen: set[str] = set()
    queue = [(requirement, frozenset(requirement.extras)) for requirement in runtime_requirements()]
    while queue:
        requirement, extras = queue.pop()
        name = canonicalize_name(requirement.name)
        if name not in pins:
            missing.append(str(requirement))
            continue
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}")
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: its own pins cannot be followed
        for spec in requires:
            child = Requirement(spec)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                queue.append((child, frozenset(child.extras)))
    assert not missing, f"requirements.lock lacks: {sorted(set(missing))}"
