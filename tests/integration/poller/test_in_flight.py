"""A round does not wait for its slowest poll: Azure slow for one hub must not delay what
people are told about the others (a regional outage: a thousand operations, some slow)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from support.waiting import wait_until

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef
from bot.domain.request import RequestStatus
from bot.hubs.gateway import OperationPoll
from bot.store.sql import SqlUnitOfWork

from .conftest import Bench, RecordingNotifier, WatchedGateway


class OneHubHangs(WatchedGateway):
    """The status read of one hub does not answer until released."""

    def __init__(self, clock: FakeClock, hub: str) -> None:
        super().__init__(clock, speed=8)
        self.hub, self.entered, self.release = hub, threading.Event(), threading.Event()

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        if ref.name == self.hub:
            self.entered.set()
            self.release.wait(timeout=60)
        return super().poll(ref, handle)


def test_an_end_is_announced_while_another_hubs_poll_still_hangs(
        uow_factory: Callable[[], SqlUnitOfWork]) -> None:
    clock = FakeClock()
    gateway = OneHubHangs(clock, "slow-hub")
    bench = Bench(clock, gateway, uow_factory, RecordingNotifier(clock))
    slow = bench.start(bench.hub("slow-hub", devices=500_000))  # first in the claim order
    quick = bench.start(bench.hub("quick-hub"))  # about a minute at this speed
    clock.advance(timedelta(minutes=5))  # both due; Azure finished the quick one
    stop = threading.Event()
    poller = bench.poller("pod-1")
    worker = threading.Thread(target=poller.run_forever, args=(stop,))
    worker.start()
    try:
        assert gateway.entered.wait(timeout=30)
        wait_until("the quick hub's completion message",
                   lambda: bench.slack.of("completed", quick), timeout=30)
        assert not gateway.release.is_set()  # told while the slow hub's poll still hangs
        assert bench.get(slow).status is RequestStatus.RUNNING
    finally:
        gateway.release.set()
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert gateway.overlaps == []  # never two polls of one operation at once
