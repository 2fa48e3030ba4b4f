"""The use cases on the in-memory store: no database file, no network. Both are refused
here, so a test that reaches for either fails instead of quietly leaving the tier."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from typing import NoReturn

import pytest

import bot.store.engine
import bot.store.sql
from tests.support.fake_store import FakeStore
from tests.support.service_world import World, build_world


def _refused(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"the unit tier opens no {what}")

    return refuse


@pytest.fixture(autouse=True)
def no_database_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "connect", _refused("SQLite database"))
    monkeypatch.setattr(bot.store.engine, "make_engine", _refused("database engine"))
    monkeypatch.setattr(bot.store.sql, "make_engine", _refused("database engine"))
    monkeypatch.setattr(socket.socket, "connect", _refused("network connection"))
    monkeypatch.setattr(socket, "create_connection", _refused("network connection"))


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def world(store: FakeStore) -> World:
    """Approvals by U_APP; two hubs at home: contoso-weu (50,000 devices), fabrikam-wus2."""
    world = build_world(store, bot_approvers="U_APP")
    world.gateway.add_hub("contoso-weu", "North Europe", devices=50_000)
    world.gateway.add_hub("fabrikam-wus2", "West US 2", devices=1_000)
    return world
