"""A batch's board reads its hubs' verifications at once: status and figures only, one query
per 500 requests (a thousand hubs' minutes would take a second to parse)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.domain.model import HubRef, OperationKind
from bot.domain.verification import MINUTE, Baseline, Figures, MetricMinutes, MinutePoint
from bot.domain.verification_state import Verification, VerifyStatus
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory

from .conftest import T0

HUBS = 1_001


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _verification(i: int) -> Verification:
    minutes = MetricMinutes(tuple(MinutePoint(T0 + k * MINUTE, 1_000.0) for k in range(80)),
                            tuple(MinutePoint(T0 + k * MINUTE, 5_000.0) for k in range(80)))
    verified = i % 2 == 0
    return Verification(
        f"fr-{i:08x}", HubRef(f"weu-{i:04d}", "sub", "rg"), OperationKind.FAILOVER, T0,
        status=VerifyStatus.VERIFIED if verified else VerifyStatus.WATCHING, batch_id="fb-1",
        baseline=Baseline(1_000.0, 5_000.0, None), completed_at=T0, minutes=minutes,
        figures=Figures(T0, 970.0, 1_000.0, 4_900.0, 5_000.0, 5) if verified else None)


def test_a_thousand_hubs_verifications_are_read_in_three_queries_without_their_minutes(
        engine: Engine) -> None:
    uow = unit_of_work_factory(engine)
    with uow() as writing:
        for i in range(HUBS):
            writing.verifications.add(_verification(i))
        writing.commit()
    selects: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with uow() as reading:
            found = reading.verifications.summaries(
                [f"fr-{i:08x}" for i in range(HUBS)] + ["fr-unknown"])
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert len(found) == HUBS and len(selects) == 3
    assert all("minutes" not in s.split("FROM")[0] for s in selects)
    first, second = found["fr-00000000"], found["fr-00000001"]
    assert first.status is VerifyStatus.VERIFIED and first.figures is not None
    assert first.figures.devices_pct == 97
    assert second.status is VerifyStatus.WATCHING and second.figures is None
