"""ARM as the bot's Azure SDKs see it in the fuzz suite: the gateway tests' emulator
(answers built from the Azure REST API spec examples) behind ``responses``, each answer open
to a per-example rewrite, every request counted by route."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from bot.domain.clock import FakeClock

_HUB_TESTS = str(Path(__file__).resolve().parents[1] / "integration" / "hubs")
if _HUB_TESTS not in sys.path:  # the emulator imports its neighbours as pytest puts them
    sys.path.insert(0, _HUB_TESTS)
from _arm_emulator import PUBLIC_ARM, ArmEmulator  # noqa: E402
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential  # noqa: E402

__all__ = ["EDGE_HUB", "HUB", "PUBLIC_ARM", "SPARE_HUB", "SUBSCRIPTION", "Answer", "ArmRoutes",
           "Rewrite", "StaticTokenCredential", "route_of"]

# West Europe (a request awaits approval), North Europe (a batch awaits approval), West Europe
# (nothing asked yet: a submission may go through).
HUB, EDGE_HUB, SPARE_HUB = "contoso-hub", "contoso-edge", "contoso-spare"
# Past this many ARM requests in one example, ARM stops answering (a connection error), so a
# request loop ends and is reported as unbounded rather than hanging the suite.
ARM_HARD_STOP = 150

# An ARM answer: (status, headers, body), or (0, {}, exception) for a lost one.
Answer = tuple[int, dict[str, str], Any]
Rewrite = Callable[[requests.PreparedRequest, Answer], Answer]


@dataclass
class ArmRoutes:
    """The emulated ARM behind ``responses``, with each answer open to a rewrite."""

    clock: FakeClock
    emulator: ArmEmulator = field(init=False)
    rewrites: dict[str, list[Rewrite]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    posted: list[str] = field(default_factory=list)  # the hub of each failover POST

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.emulator = ArmEmulator(None, self.clock)
        self.emulator.add_hub(HUB, "West Europe", "North Europe", 1200,
                              resource_group="rg-contoso")
        self.emulator.add_hub(EDGE_HUB, "North Europe", "West Europe", 300,
                              resource_group="rg-contoso")
        self.emulator.add_hub(SPARE_HUB, "West Europe", "North Europe", 40,
                              resource_group="rg-spare")
        # Two operations done in the portal today: the Activity Log has events to answer with.
        for hours in (6, 4):
            self.emulator.outside_failover(HUB, caller="oncall@contoso.com",
                                           ago=timedelta(hours=hours))
        self.rewrites = {}
        self.counts = Counter()
        self.posted = []

    def answer(self, request: requests.PreparedRequest) -> Answer:
        route = route_of(request)
        self.counts[route] += 1
        if route == "failover":
            self.posted.append((request.url or "").split("/IotHubs/")[-1].split("/")[0].lower())
        self.counts["total"] += 1
        if self.counts["total"] > ARM_HARD_STOP:
            return 0, {}, requests.ConnectionError("the fuzz harness stopped answering")
        answer: Answer = self.emulator.answer(request)
        queue = self.rewrites.get(route)
        if queue:
            change = queue[0] if getattr(queue[0], "sticky", False) else queue.pop(0)
            answer = change(request, answer)
        return answer


_ROUTES = (
    ("POST", re.compile(r"/IotHubs/[^/]+/failover$", re.I), "failover"),
    ("GET", re.compile(r"/IotHubs/[^/]+/IotHubStats$", re.I), "stats"),
    ("GET", re.compile(r"/resourceGroups/[^/]+/providers/Microsoft\.Devices/IotHubs/[^/]+$",
                       re.I), "hub"),
    ("GET", re.compile(r"/providers/Microsoft\.Devices/IotHubs$", re.I), "list"),
    ("GET", re.compile(r"/eventtypes/management/values$", re.I), "activity"),
    ("GET", re.compile(r"/operationResults/", re.I), "operation"),
)


def route_of(request: requests.PreparedRequest) -> str:
    path = (request.url or "").split("?", 1)[0]
    for method, pattern, name in _ROUTES:
        if request.method == method and pattern.search(path):
            return name
    return "other"
