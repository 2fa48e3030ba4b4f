"""``failover-bot drills``: drill history and recovery times, for audits and DR reviews — one
row per drill (newest first) with each leg's measured figures from its report, in seconds.

A table for people (durations in words, the long failure last), CSV and JSON for
spreadsheets and scripts (seconds as numbers; JSON keeps the report's words as stored).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from bot.domain.audit_words import plain_mentions
from bot.domain.durations import humanize
from bot.service.drill_reading import LEGS, DrillReading, DrillResult, LegResult
from bot.store.base import UnitOfWork

FIGURES = ("to_accepted_s", "to_active_s", "to_verified_s")
COLUMNS = ["hub", "drill", "started", "ended", "status", "requested_by", "approved_by",
           "scheduled_by",
           *(f"{leg}_{figure}" for leg in LEGS for figure in FIGURES),
           *(f"{leg}_verdict" for leg in LEGS),
           *(f"quota_used_{leg}" for leg in LEGS), "failure"]
TABLE = ["hub", "drill", "started", "status", "requested_by", "approved_by", "scheduled_by",
         "failover", "failover_verdict", "failback", "failback_verdict", "quota_used",
         "failure"]
MAX_WIDTH = 60
Value = str | float | int | None


@dataclass(frozen=True)
class _Database:
    """The use case's only dependency here: the command line reads no Azure and no Slack."""

    uow: Callable[[], UnitOfWork]


def run_drills(args: argparse.Namespace, uow: Callable[[], UnitOfWork], out: TextIO) -> int:
    results = DrillReading(_Database(uow)).history(args.hub, args.since, args.limit)
    write_drills(results, args.format, out)
    return 0


def write_drills(results: Sequence[DrillResult], fmt: str, out: TextIO) -> None:
    rows = [_row(result) for result in results]
    if fmt == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
    elif not rows:
        out.write("no drills match\n")
    else:
        _table([_table_row(result, row) for result, row in zip(results, rows, strict=True)],
               out)


def _row(result: DrillResult) -> dict[str, Value]:
    drill = result.drill
    row: dict[str, Value] = {
        "hub": drill.hub, "drill": drill.id, "started": _at(drill.created_at),
        "ended": _at(drill.ended_at), "status": drill.status.value,
        "requested_by": drill.requested_by, "approved_by": drill.approved_by,
        "scheduled_by": drill.scheduled_by,
    }
    for leg in LEGS:
        figures = _leg(result, leg)
        for figure in FIGURES:
            row[f"{leg}_{figure}"] = getattr(figures, figure)
    for leg in LEGS:
        row[f"{leg}_verdict"] = _leg(result, leg).verdict
    for leg in LEGS:
        row[f"quota_used_{leg}"] = result.quota_used.get(leg)
    row["failure"] = result.failure
    return row


def _table_row(result: DrillResult, row: dict[str, Value]) -> dict[str, str]:
    shown = {k: _plain(row[k]) for k in TABLE if k in row}
    for leg in LEGS:  # "12s / 9m 30s / 14m": to accepted, to active, to verified
        figures = _leg(result, leg)
        shown[leg] = " / ".join(_took(getattr(figures, f)) for f in FIGURES) \
            if figures.ran else "did not run"
        shown[f"{leg}_verdict"] = (figures.verdict or "–").replace("_", " ")
    used = result.quota_used
    shown["quota_used"] = (f"{used.get('failover', 0)} failover, {used.get('failback', 0)} "
                           "failback" if used else "–")
    shown["status"] = result.drill.status.value.replace("_", " ")
    return shown


def _table(rows: list[dict[str, str]], out: TextIO) -> None:
    widths = {c: min(MAX_WIDTH, max(len(c), *(len(r[c]) for r in rows))) for c in TABLE}
    out.write("  ".join(c.upper().ljust(widths[c]) for c in TABLE).rstrip() + "\n")
    for r in rows:  # the failure, last, is not cut: its words are what a review reads
        cells = [r[c][: widths[c]].ljust(widths[c]) for c in TABLE[:-1]] + [r[TABLE[-1]]]
        out.write("  ".join(cells).rstrip() + "\n")


def _leg(result: DrillResult, leg: str) -> LegResult:
    return result.failover if leg == "failover" else result.failback


def _at(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at else None


def _took(seconds: float | None) -> str:
    return humanize(timedelta(seconds=seconds)) if seconds is not None else "–"


def _plain(value: Value) -> str:
    """CSV and the table: words without Slack markup; nothing is an empty cell."""
    if value is None:
        return ""
    return plain_mentions(value) if isinstance(value, str) else str(value)
