"""A throwaway PostgreSQL schema, for the tests' database fixtures and the benchmarks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_TEST_URL = "POSTGRES_TEST_URL"


@contextmanager
def postgres_schema(base_url: str, prefix: str = "t") -> Iterator[str]:
    """A fresh schema, put first on the search path through the URL yielded; dropped after."""
    import psycopg

    from bot.store.sql import database_url

    schema = f"{prefix}_{secrets.token_hex(6)}"
    url = database_url(base_url)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
