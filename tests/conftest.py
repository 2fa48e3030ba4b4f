"""The tiers, marked by directory (``unit``, ``integration``, ``drill``, ``browser``), and shared
fixtures. Database ones: ``blank_db_url`` (empty), ``db_url`` (migrated to head) and
``uow_factory``, each on SQLite and, when ``POSTGRES_TEST_URL`` is set, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bot.store.migrate import upgrade
from bot.store.sql import SqlUnitOfWork, make_engine, unit_of_work_factory
from tests.support import POSTGRES_TEST_URL, postgres_schema

# The machines that run this suite are shared and noisy: no per-example deadline, and no
# failure because generating examples was slow. Health checks on filtering stay on.
settings.register_profile("noisy-machine", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("noisy-machine")

TESTS = Path(__file__).parent
# The first folder under tests/ is the tier: every test in it gets the tier's marker.
TIERS = {"unit": "unit", "integration": "integration", "drills": "drill", "browser": "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            tier = TIERS.get(item.path.relative_to(TESTS).parts[0])
        except ValueError:
            continue
        if tier:
            item.add_marker(tier)


DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=DATABASES)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables), SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base_url = os.environ.get(POSTGRES_TEST_URL)
    if not base_url:
        pytest.skip(f"{POSTGRES_TEST_URL} is not set")
    with postgres_schema(base_url) as url:
        yield url


@pytest.fixture
def db_url(blank_db_url: str) -> str:
    """The URL of an empty database migrated to the latest schema."""
    upgrade(blank_db_url)
    return blank_db_url


@pytest.fixture
def uow_factory(db_url: str) -> Iterator[Callable[[], SqlUnitOfWork]]:
    """Fresh units of work on the migrated test database."""
    engine = make_engine(db_url)
    yield unit_of_work_factory(engine)
    engine.dispose()
