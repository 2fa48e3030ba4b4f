"""The front's own write of acked jobs (``bot.store.job_spool``), for when its work process
cannot take them: the rows a work process's ``JobStore`` reads and claims as its own, on
SQLite and PostgreSQL; an id already stored is kept as it was; a SQLite file deleted under
the bot is refused, not created anew."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.base import StoreUnavailable
from bot.store.job_spool import JobSpool
from bot.store.jobs import JobStore, StoredJob

LEASE = timedelta(seconds=30)
ACKED = datetime(2026, 12, 1, 10, 15, 30, 123456, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[JobStore]:
    jobs = JobStore(db_url)
    yield jobs
    jobs.close()


def job(body: str | dict[str, object] = "command=%2Fiothub&text=status",
        mode: str = "http") -> StoredJob:
    return StoredJob(id=uuid.uuid4().hex, function="answer", mode=mode, body=body,
                     headers={"content-type": ["application/x-www-form-urlencoded"]},
                     request_id="req-1", created_at=ACKED)


def test_spooled_jobs_are_the_work_processs_to_claim_as_stored(db_url: str,
                                                              store: JobStore) -> None:
    http, socket_mode = job(), job({"command": "/iothub", "text": "status hub"}, "socket_mode")
    JobSpool(db_url).add([http, socket_mode])
    claimed = {j.id: j for j in store.claim_due("work-1", LEASE, unclaimed_for=timedelta(0))}
    assert set(claimed) == {http.id, socket_mode.id}
    # Body, headers, request id and the ack's time as stored; the claim counts an attempt.
    assert replace(claimed[http.id], attempts=0) == http
    assert replace(claimed[socket_mode.id], attempts=0) == socket_mode


def test_a_job_the_work_process_stored_first_is_left_as_it_was(db_url: str,
                                                               store: JobStore) -> None:
    first = job()
    store.add([first])
    assert store.claim("work-1", [first.id], LEASE) == {first.id}
    JobSpool(db_url).add([first, second := job()])  # its death left it unconfirmed
    assert [j.id for j in store.claim_due("work-2", LEASE, unclaimed_for=timedelta(0))] == [
        second.id]  # the first is still work-1's: not a second row, not released


def test_a_deleted_sqlite_file_is_refused_and_not_created_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    JobStore(url).close()  # the schema, as the work process migrated it
    from bot.store.migrate import upgrade

    upgrade(url)
    spool = JobSpool(url)
    (tmp_path / "bot.db").unlink()
    with pytest.raises(StoreUnavailable, match="deleted or replaced"):
        spool.add([job()])
    assert not (tmp_path / "bot.db").exists()
