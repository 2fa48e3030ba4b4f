"""A lazy job as the ``lazy_job`` table keeps it: what ``JobStore`` (bot.store.jobs) and the
front's ``JobSpool`` (bot.store.job_spool) both write, without SQLAlchemy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

COLUMNS = ("id", "function", "mode", "body", "headers", "request_id", "created_at", "attempts",
           "owner", "lease_expires_at")


@dataclass(frozen=True)
class StoredJob:
    """One job as stored: what to run, for which Slack request, and how often it was tried."""

    id: str
    function: str
    mode: str
    body: str | dict[str, Any]
    headers: dict[str, list[str]]
    request_id: str | None
    created_at: datetime
    attempts: int = 0


def to_row(job: StoredJob) -> dict[str, Any]:
    body = job.body if isinstance(job.body, str) else json.dumps(job.body)
    return {"id": job.id, "function": job.function, "mode": job.mode, "body": body,
            "headers": json.dumps(job.headers), "request_id": job.request_id,
            "created_at": job.created_at, "attempts": job.attempts, "owner": None,
            "lease_expires_at": None}
