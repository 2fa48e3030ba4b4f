"""The fuzz suite's profiles, marks and bot.

Profiles (``ci``, the default, and ``long``), chosen with ``HYPOTHESIS_PROFILE=long`` or
``--hypothesis-profile long``; both derive from the suite's ``noisy-machine`` profile (no
deadline). ``ci`` is derandomized with no example database, so every run of CI tries the same
examples; ``long`` draws new ones each run and remembers failures in ``.hypothesis/``.
Each test builds its bot once (:class:`Harness`) and resets it between examples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.harness import Harness

PROFILES = ("ci", "long")
FUZZ = Path(__file__).parent
_base = settings.get_profile("noisy-machine")
_suppressed = [*_base.suppress_health_check, HealthCheck.too_slow,
               HealthCheck.data_too_large, HealthCheck.large_base_example]
# In CI a failing test shrinks one failure (the first found), not every distinct one: that
# keeps a red run within minutes. ``long`` shrinks and reports each distinct failure.
settings.register_profile("ci", parent=_base, max_examples=60, derandomize=True,
                          database=None, print_blob=True, report_multiple_bugs=False,
                          suppress_health_check=_suppressed)
settings.register_profile("long", parent=_base, max_examples=2_000, print_blob=True,
                          suppress_health_check=_suppressed)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # this folder's tier: Bolt and the SDKs over HTTP fakes
        if FUZZ in item.path.parents:
            item.add_marker(pytest.mark.fuzz)
            item.add_marker(pytest.mark.integration)


def chosen_profile(config: pytest.Config) -> str:
    for wanted in (os.environ.get("HYPOTHESIS_PROFILE"),
                   config.getoption("--hypothesis-profile", default=None)):
        if wanted in PROFILES:
            return str(wanted)
    return "ci"


@pytest.fixture(scope="module", autouse=True)
def fuzz_profile(request: pytest.FixtureRequest) -> Iterator[str]:
    """The chosen profile while this folder's tests run (others keep theirs)."""
    before = settings.get_current_profile_name()
    name = chosen_profile(request.config)
    settings.load_profile(name)
    yield name
    settings.load_profile(before)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    built = Harness(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'bot.db'}")
    built.watch_logs()
    yield built
    built.close()
