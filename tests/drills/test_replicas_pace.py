"""Drill: two replicas of the real bot (two ``serve`` processes, each with its work process)
on one PostgreSQL schema run one regional batch of twelve hubs, and keep one pace between
them (issue #24, item 11).

Both replicas are paused (``SIGSTOP`` on each whole process group, as a frozen VM or a node
under pressure pauses pods) once the batch is approved, until every hub's start slot has
passed, then resumed together: every hub is overdue on both replicas at once, and each lets
in what its own pacer allows. The failover POSTs the fake ARM receives are still one
interval apart, whichever replica sent them, one per hub, and both replicas sent some.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.request import RequestStatus
from bot.store.migrate import upgrade
from failover_sandbox.slack_api import FakeSlackServer
from failover_sandbox.workspace import SandboxWorkspace
from tests.support import POSTGRES_TEST_URL, postgres_schema

from . import batch_views
from .arm_server import ArmServer
from .conftest import HUB, PHASE_REPORTS
from .serve_harness import ALICE, BOB, CHANNEL, WAIT, Drill

pytestmark = [pytest.mark.process_drill, pytest.mark.postgres]

HUBS = [HUB, *(f"weu-pace-{i:02d}" for i in range(11))]  # twelve hubs in West Europe
RATE = 60  # starts a minute, all replicas together: one second apart
INTERVAL = 60 / RATE
# A POST reaches the fake ARM a few milliseconds after its turn, give or take what a loaded
# two-core machine does to two processes' timing; two replicas on separate paces POST
# together (a gap of about 0).
TOLERANCE = 0.15
SETTINGS = {"BOT_BATCH_MAX_STARTS_PER_MINUTE": str(RATE)}
_FAILOVER = re.compile(r"/IotHubs/([^/?]+)/failover", re.IGNORECASE)


class TimedArm(ArmServer):
    """The fake ARM, noting when each failover POST arrived (monotonic seconds) and for whom."""

    def __init__(self) -> None:
        super().__init__()
        self.post_times: list[tuple[float, str]] = []
        self._times = threading.Lock()

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes | None) -> Any:
        posted = _FAILOVER.search(path) if method == "POST" else None
        if posted:
            with self._times:
                self.post_times.append((time.monotonic(), posted.group(1).lower()))
        return super().answer(method, path, headers, body)


@pytest.fixture
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Drill]]:
    """Two drill grounds sharing one fake ARM, one fake Slack and one PostgreSQL schema."""
    base_url = os.environ.get(POSTGRES_TEST_URL)
    if not base_url:
        pytest.skip(f"{POSTGRES_TEST_URL} is not set")
    workspace = SandboxWorkspace()
    workspace.add_channel(CHANNEL.id, CHANNEL.name)
    for person in (ALICE, BOB):
        workspace.add_user(person.id, person.handle)
    with (postgres_schema(base_url) as db_url, TimedArm() as arm,
          FakeSlackServer(workspace) as slack):
        upgrade(db_url)  # several replicas: PostgreSQL, migrated by the operator
        for name in HUBS:
            arm.add_hub(name, "westeurope", "northeurope", devices=1_000)
        grounds = []
        for name in ("replica-a", "replica-b"):
            (tmp_path / name).mkdir()
            grounds.append(Drill(tmp_path / name, arm, slack, workspace, db_url))
        try:
            yield grounds
        finally:
            for ground in grounds:
                with contextlib.suppress(ProcessLookupError):  # paused: let it die
                    if ground.bot is not None:
                        os.killpg(ground.bot.process.pid, signal.SIGCONT)
                ground.close()
            reports = request.node.stash.get(PHASE_REPORTS, {})
            if any(r.failed for r in reports.values()):
                for ground in grounds:
                    for log in ground.logs:
                        print(f"----- {ground.tmp_path.name}/{log.name} -----\n"
                              f"{log.read_text(errors='replace')[-20_000:]}")


def test_two_replicas_resumed_with_every_hub_overdue_post_one_interval_apart(
        replicas: list[Drill]) -> None:
    first = replicas[0]
    for replica in replicas:
        replica.start_bot(SETTINGS)
    arm = first.arm
    assert isinstance(arm, TimedArm)
    batch_id = batch_views.approve_the_region(first, "INC-24 West Europe is down")
    first.wait_for("every hub approved", lambda: all(
        r.status != RequestStatus.AWAITING_APPROVAL for r in batch_views.members(first, batch_id)))

    for replica in replicas:  # pods paused: nothing of either bot runs
        os.killpg(replica.bot_pid(), signal.SIGSTOP)
    waiting = [r for r in batch_views.members(first, batch_id)
               if r.status == RequestStatus.APPROVED]
    assert len(waiting) >= 6, "most hubs must still wait for their slot at the pause"
    last_slot = max(r.next_poll_at for r in waiting if r.next_poll_at)
    first.wait_for("every hub's slot to pass",
                   lambda: datetime.now(UTC) > last_slot + timedelta(seconds=1))
    for replica in replicas:
        os.killpg(replica.bot_pid(), signal.SIGCONT)

    first.wait_for("a POST for every hub", lambda: len(arm.post_times) >= len(HUBS),
                   timeout=WAIT + len(HUBS) * INTERVAL)
    assert {h: arm.failover_posts(h) for h in HUBS} == dict.fromkeys(HUBS, 1)
    times = sorted(at for at, _ in arm.post_times)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert min(gaps) >= INTERVAL - TOLERANCE, gaps
    posted_by = [_posts_sent(replica) for replica in replicas]
    assert sum(posted_by) == len(HUBS)
    assert all(posted_by), f"both replicas must have POSTed: {posted_by}"



def _posts_sent(drill: Drill) -> int:
    """Failover POSTs this replica made, as its /metrics counts them."""
    assert drill.bot is not None
    text = requests.get(drill.bot.url + "/metrics", timeout=10).text
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "failover_bot_azure_call_seconds_count"
                   and sample.labels.get("method") == "start_failover"))







