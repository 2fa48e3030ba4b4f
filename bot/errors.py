"""The start-up failures every process reports the same way: one line and an exit status
(``bot.exit_status``). Here, not beside what raises them, so the front can tell them apart
without importing the settings' or the migrations' libraries."""

from __future__ import annotations


class ConfigError(Exception):
    """One line naming the variable and what is wrong with it."""


class SchemaOutdated(Exception):
    """The database schema is not the one this version of the bot needs."""
