from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.domain.request import OPEN_STATUSES
from bot.errors import SchemaOutdated
from bot.store import migrate, schema
from bot.store.sql import make_engine
from bot.store.tables import OPEN_PREDICATE_SQL, metadata


def test_the_migrations_create_exactly_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_the_migrations_create_the_partial_indexes_with_their_predicates(db_url: str) -> None:
    # compare_metadata ignores index predicates, so compare their literals and columns.
    engine = make_engine(db_url)
    dialect = engine.dialect.name
    with engine.connect() as connection:
        reflected = {index["name"]: str(index.get("dialect_options", {}).get(f"{dialect}_where"))
                     for index in inspect(connection).get_indexes("failover_request")}
    engine.dispose()
    declared = {index.name: str(index.dialect_options[dialect]["where"])
                for index in metadata.tables["failover_request"].indexes
                if index.dialect_options[dialect]["where"] is not None}

    assert declared
    assert {name for name, where in reflected.items() if where != "None"} == set(declared)
    for name, where in declared.items():
        assert _tokens(reflected[name]) >= _tokens(where)
        assert set(re.findall(r"'[^']*'", reflected[name])) == set(re.findall(r"'[^']*'", where))


def _tokens(predicate: str) -> set[str]:
    return set(re.findall(r"[a-z_]+|'[^']*'|<", predicate)) - {"in", "any", "array", "text",
                                                                  "character", "varying"}


def test_the_partial_index_names_exactly_the_open_statuses() -> None:
    assert all(f"'{status.value}'" in OPEN_PREDICATE_SQL for status in OPEN_STATUSES)
    assert OPEN_PREDICATE_SQL.count("'") == 2 * len(OPEN_STATUSES)


def test_upgrade_brings_an_empty_database_to_head(blank_db_url: str) -> None:
    assert migrate.is_empty(blank_db_url)
    assert migrate.current_revision(blank_db_url) is None

    migrate.upgrade(blank_db_url)

    assert not migrate.is_empty(blank_db_url)
    assert migrate.current_revision(blank_db_url) == migrate.head_revision()
    migrate.upgrade(blank_db_url)  # idempotent
    migrate.ensure_schema(blank_db_url)


@pytest.mark.parametrize("blank_db_url", ["sqlite"], indirect=True)
def test_serve_migrates_a_new_sqlite_database_by_itself(blank_db_url: str) -> None:
    migrate.ensure_schema(blank_db_url)
    assert migrate.current_revision(blank_db_url) == migrate.head_revision()


@pytest.mark.parametrize("blank_db_url", ["sqlite"], indirect=True)
def test_serve_refuses_a_sqlite_database_it_did_not_create(blank_db_url: str) -> None:
    engine = make_engine(blank_db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE something_else (id INTEGER)"))
    engine.dispose()

    with pytest.raises(migrate.SchemaOutdated, match="no migration history"):
        migrate.ensure_schema(blank_db_url)


@pytest.mark.postgres
@pytest.mark.parametrize("blank_db_url", ["postgres"], indirect=True)
def test_serve_asks_the_operator_to_upgrade_postgresql(blank_db_url: str) -> None:
    with pytest.raises(migrate.SchemaOutdated, match="failover-bot db upgrade"):
        migrate.ensure_schema(blank_db_url)
    assert migrate.is_empty(blank_db_url)

    migrate.upgrade(blank_db_url)
    migrate.ensure_schema(blank_db_url)


def test_a_database_migrated_by_a_newer_version_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    engine.dispose()

    with pytest.raises(migrate.SchemaOutdated, match="newer version"):
        migrate.ensure_schema(db_url)


def test_the_migrations_folder_can_be_moved(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv(migrate.MIGRATIONS_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=migrate.MIGRATIONS_DIR_ENV):
        migrate.migrations_dir()


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert schema.head_from_files(migrate.migrations_dir()) == migrate.head_revision()


def test_a_schema_check_keeps_alembic_out_of_the_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    check = ("import sys; from bot.store.schema import ensure_schema; ensure_schema(sys.argv[1]);"
             " print('alembic' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", check, url], capture_output=True, text=True,
                           check=True)
    assert first.stdout.strip() == "False"  # a new file: migrated by a process of its own
    assert migrate.current_revision(url) == migrate.head_revision()
    again = subprocess.run([sys.executable, "-c", check, url], capture_output=True, text=True,
                           check=True)
    assert again.stdout.strip() == "False"  # every later start: a read, no Alembic at all


def test_a_database_behind_or_ahead_is_left_to_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    migrate.upgrade(url, "0003")
    assert not schema.up_to_date(url)
    schema.ensure_schema(url)  # SQLite: migrated to the head
    assert schema.up_to_date(url)


def test_a_schema_check_apart_says_what_alembic_said_and_keeps_it_out(tmp_path: Path) -> None:
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    migrate.upgrade(behind, "0003")
    schema.ensure_schema(behind)  # migrated in a process of its own
    assert schema.up_to_date(behind)
    foreign = tmp_path / "foreign.db"
    engine = make_engine(f"sqlite:///{foreign}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE someone_elses (id INTEGER)"))
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="tables but no migration history"):
        schema.ensure_schema(f"sqlite:///{foreign}")
