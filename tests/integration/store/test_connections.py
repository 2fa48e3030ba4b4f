from __future__ import annotations

import pytest

from bot.store import migrate
from bot.store.base import StoreUnavailable
from bot.store.sql import database_url, unit_of_work_factory

# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = "postgresql://failover:s3cret-pw@127.0.0.1:1/failover"


@pytest.mark.parametrize(("given", "driver"), [
    ("postgresql://u@db/failover", "postgresql+psycopg"),
    ("postgres://u@db/failover", "postgresql+psycopg"),
    ("postgresql+psycopg://u@db/failover", "postgresql+psycopg"),
    ("sqlite:///failover-bot.db", "sqlite"),
])
def test_plain_postgresql_urls_get_the_psycopg_3_driver(given: str, driver: str) -> None:
    assert database_url(given).drivername == driver


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    uow = unit_of_work_factory(UNREACHABLE)()
    with pytest.raises(StoreUnavailable) as raised, uow:
        pytest.fail("entered a unit of work without a database")
    assert "s3cret-pw" not in str(raised.value)
    assert "unavailable" in str(raised.value)


def test_migrations_report_an_unreachable_database_too() -> None:
    with pytest.raises(StoreUnavailable) as raised:
        migrate.ensure_schema(UNREACHABLE)
    assert "s3cret-pw" not in str(raised.value)
