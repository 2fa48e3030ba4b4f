"""Helpers shared by the tests (every tier) and the benchmarks in ``bench/``.

Import from here, not from a conftest: ``from tests.support import free_port, wait_until``.
The benchmarks reach this package through ``bench/_common.py``, which puts the repository
root on ``sys.path``.
"""

from tests.support.executors import SyncExecutor
from tests.support.net import free_port
from tests.support.postgres import POSTGRES_TEST_URL, postgres_schema
from tests.support.slack import FORM, documented, signed, slash_command
from tests.support.waiting import wait_until

__all__ = ["FORM", "POSTGRES_TEST_URL", "SyncExecutor", "documented", "free_port",
           "postgres_schema", "signed", "slash_command", "wait_until"]
