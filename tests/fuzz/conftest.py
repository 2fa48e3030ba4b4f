"""The fuzz suite's marks and bot; its Hypothesis profiles are in ``profiles.py``.

Each test builds its bot once (:class:`Harness`) and resets it between examples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz import profiles  # noqa: F401 - registers the profiles ci and long
from tests.fuzz.harness import Harness

FUZZ_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # this folder's tier: Bolt and the SDKs over HTTP fakes
        if FUZZ_TESTS in item.path.parents:
            item.add_marker(pytest.mark.fuzz)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    built = Harness(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'bot.db'}")
    built.watch_logs()
    yield built
    built.close()
