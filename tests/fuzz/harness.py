"""One bot for a whole fuzz test, reset between examples: the real Bolt app behind the real
HTTP face (``bot.roles.single``), the fake Slack Web API over HTTP, Azure through the real
azure-mgmt-iothub and azure-mgmt-monitor SDKs with ARM emulated by ``responses`` (the gateway
tests' :class:`ArmEmulator`), and every answer of it open to a per-example rewrite.

What each example may be held to (:meth:`Harness.held`): no 5xx, no error or traceback in the
log, no failover POST that no approver approved, and a bounded number of outgoing requests.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import responses
from sqlalchemy import Engine
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from bot.bootstrap import bootstrap
from bot.config import load_settings
from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import Actor
from bot.hubs.azure import AzureIotHubGateway
from bot.roles.single import Runtime, build_runtime
from bot.service import SubmitBatch, SubmitFailover, Submitted
from bot.slack.client import make_web_client
from bot.store.base import AuditQuery
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.slack_api import FakeSlackServer
from tests import support

_HUB_TESTS = str(Path(__file__).resolve().parents[1] / "integration" / "hubs")
if _HUB_TESTS not in sys.path:  # the emulator imports its neighbours as pytest puts them
    sys.path.insert(0, _HUB_TESTS)
from _arm_emulator import PUBLIC_ARM, ArmEmulator  # noqa: E402
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential  # noqa: E402

SECRET = "fuzz-signing-secret"
REQUESTER, APPROVER, BYSTANDER = "U0ALICE", "U0BOB", "U0CAROL"
USERS = (REQUESTER, APPROVER, BYSTANDER)
CHANNEL, OTHER_CHANNEL = "C0INCIDENT", "C0RANDOM"
ONCALL_GROUP = "S0ONCALL"
# West Europe (a request awaits approval), North Europe (a batch awaits approval), West Europe
# (nothing asked yet: a submission may go through).
HUB, EDGE_HUB, SPARE_HUB = "contoso-hub", "contoso-edge", "contoso-spare"
SEED_KEY = "fuzz-seed"  # the seeded request's and batch's ids are the same in every example
APP_ID = "A0BOT"
# Outgoing requests (Slack calls, response_url posts, ARM requests) one example may cause.
# The longest honest flow (failover dialog, submission, approval, two polls) needs about 35.
MAX_OUTGOING = 60
# Past this many ARM requests in one example, ARM stops answering (a connection error), so a
# request loop ends and is reported as unbounded rather than hanging the suite.
ARM_HARD_STOP = 150
WATCHED_LOGGERS = ("bot", "slack_bolt", "failover-bot")

# An ARM answer: (status, headers, body), or (0, {}, exception) for a lost one.
Answer = tuple[int, dict[str, str], Any]
Rewrite = Callable[[requests.PreparedRequest, Answer], Answer]


class SyncExecutor(Executor):
    """Runs lazy halves and follow-up work at once: an example's effects are all done when
    its HTTP answer is back, so they can be counted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class LogRecords(logging.Handler):
    """Every record of the watched loggers (at DEBUG) and of the rest (at their levels)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def bad(self) -> list[tuple[str, str]]:
        """Records a client's input or a remote answer must never cause: an exception's
        traceback (``exc_info``), a printed ``Traceback``, or an error; as (cause, line)."""
        found = []
        for record in list(self.records):
            text = record.getMessage()
            if record.exc_info or record.stack_info or "Traceback" in text \
                    or record.levelno >= logging.ERROR:
                exc_type = record.exc_info[0] if record.exc_info else None
                cause = exc_type.__name__ if exc_type else cause_of(text)
                found.append((f"{record.name}_{cause}",
                              f"{record.name} {record.levelname} {cause}: {text[:300]}"))
        return found


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


@dataclass
class Sent:
    """What one example did, for the properties."""

    statuses: list[int] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)  # raised through the HTTP face


_BROKEN: dict[str, type[AssertionError]] = {}


def broken(prop: str, cause: str) -> type[AssertionError]:
    """One exception class per property and cause: Hypothesis tells failures apart by their
    exception's type, so each cause (a KeyError in one listener, a RecursionError in
    another) is shrunk and reported on its own instead of hiding behind the first one."""
    name = re.sub(r"\W+", "_", f"{prop}_{cause}").strip("_")[:80]
    if name not in _BROKEN:
        _BROKEN[name] = type(name, (AssertionError,), {})
    return _BROKEN[name]


def cause_of(text: str) -> str:
    """A cause's name: the words of a log line without its quoted parts, ids and numbers (a
    missing key's name, as Bolt logs a lazy half's KeyError, is kept)."""
    key = re.search(r"\('([A-Za-z_]{1,30})'\)", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|\d+", "", text)
    return "_".join(text.split()[:6] + ([key.group(1)] if key else [])) or "unknown"


class Harness:
    """Built once per test; :meth:`example` resets it and yields the example's record."""

    def __init__(self, db_url: str) -> None:
        self.server = FakeSlackServer().start()
        slack = self.server.slack
        for user in USERS:
            slack.add_user(user, user.lower())
        slack.add_channel(CHANNEL, "incident")
        slack.add_channel(OTHER_CHANNEL, "random")
        slack.add_usergroup(ONCALL_GROUP, [APPROVER])
        self.clock = FakeClock()
        self.arm = ArmRoutes(self.clock)
        self.rsps = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.rsps.start()
        for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
            self.rsps.add_callback(method, re.compile(re.escape(PUBLIC_ARM) + r"/.*"),
                                   callback=self.arm.answer, content_type="application/json")
        upgrade(db_url)
        self.engine: Engine = make_engine(db_url)
        self.settings = load_settings(
            slack_signing_secret=SECRET, slack_bot_token=slack.bot_token,
            slack_api_url=self.server.api_url, bot_approvers=ONCALL_GROUP,
            bot_allowed_channels=CHANNEL, azure_subscription_id=SUBSCRIPTION,
            bot_poll_workers=1)
        gateway = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION], clock=self.clock)
        components = bootstrap(self.settings, clock=self.clock, gateway=gateway,
                               uow=unit_of_work_factory(self.engine))
        self.service = components.service
        client = make_web_client(slack.bot_token, self.server.api_url, sleep=lambda _: None)
        self.runtime: Runtime = build_runtime(components, client=client,
                                              executor=SyncExecutor())
        self.web = TestClient(self.runtime.web_app)  # a server's exception is raised here
        self.web.__enter__()  # one event loop for every request, as under uvicorn
        self.logs = LogRecords()
        self._levels: dict[str, int] = {}
        self.request_id = ""
        self.batch_id = ""
        self._seed()

    # -- lifetime ------------------------------------------------------------------------

    def watch_logs(self) -> None:
        logging.getLogger().addHandler(self.logs)
        for name in WATCHED_LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)

    def close(self) -> None:
        logging.getLogger().removeHandler(self.logs)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        self.web.__exit__(None, None, None)
        self.runtime.poller.close()
        self.rsps.stop()
        self.rsps.reset()
        self.server.stop()
        self.engine.dispose()

    @contextmanager
    def example(self) -> Iterator[Sent]:
        """A clean slate: the clock two days on (every cache's entries out of date), a fresh
        ARM, and the database as seeded (a request and a regional batch awaiting approval),
        its times moved on with the clock."""
        self.clock.advance(timedelta(days=2))
        self.arm.reset()
        self._restore(self.clock.now() - self._seeded_at)
        self.logs.records.clear()
        slack = self.server.slack
        self._slack_before = len(slack.calls()) + len(slack.responses)
        self.arm.counts.clear()
        self.arm.posted.clear()
        yield Sent()

    def _seed(self) -> None:
        """Seed through the service once; each example restores these rows (cheaper)."""
        self._restore(timedelta(0))
        self._seeded_at = self.clock.now()
        requested = self.service.asking.submit(SubmitFailover(
            actor=Actor(REQUESTER), channel_id=CHANNEL, hub_name=HUB,
            kind=OperationKind.FAILOVER, typed_name=HUB, reason="INC-7 seed",
            expected_active_region="westeurope", key=SEED_KEY))
        assert isinstance(requested, Submitted), requested
        self.request_id = requested.request.id
        batch = self.service.regional.submit(SubmitBatch(
            actor=Actor(REQUESTER), channel_id=CHANNEL, kind=OperationKind.FAILOVER,
            region="northeurope", typed_region="northeurope", reason="INC-8 seed",
            hubs=[EDGE_HUB], key=SEED_KEY))
        self.batch_id = getattr(getattr(batch, "batch", None), "id", "")
        assert self.batch_id, batch
        with self.engine.connect() as connection:
            self._rows = {table: [dict(row._mapping) for row in connection.execute(
                table.select())] for table in SQLModel.metadata.sorted_tables}

    def _restore(self, shift: timedelta) -> None:
        """Every table emptied, then the seeded rows written back, ``shift`` later."""
        with self.engine.begin() as connection:
            for table in reversed(SQLModel.metadata.sorted_tables):
                connection.execute(table.delete())
            for table, rows in getattr(self, "_rows", {}).items():
                if rows:
                    connection.execute(table.insert(), [
                        {k: v + shift if isinstance(v, datetime) else v for k, v in r.items()}
                        for r in rows])

    # -- acting --------------------------------------------------------------------------

    def post(self, sent: Sent, body: bytes, headers: dict[str, str]) -> int:
        try:
            response = self.web.post("/slack/events", content=body, headers=headers)
        except Exception as exc:  # what the server raised (Starlette answered it with a 500)
            sent.crashes.append(exc)
            sent.statuses.append(500)
            return 500
        sent.statuses.append(response.status_code)
        return response.status_code

    def signed(self, body: str) -> dict[str, str]:
        return support.signed(body, secret=SECRET)

    # -- what an example did ---------------------------------------------------------------

    def outgoing(self) -> int:
        slack = self.server.slack
        return len(slack.calls()) + len(slack.responses) - self._slack_before \
            + self.arm.counts["total"]

    def audit_size(self) -> int:
        return len(self.service.reading.audit(AuditQuery(limit=1000)))

    def approved_hubs(self) -> set[str]:
        """Hubs an approver (never the requester) approved: the only ones that may be POSTed
        (a POST Azure did not take may be tried again: once per approval is not the rule)."""
        events = self.service.reading.audit(AuditQuery(
            actions=frozenset({AuditAction.APPROVED}), limit=1000))
        return {(e.hub or "").lower() for e in events if e.actor == APPROVER}

    def held(self, sent: Sent, *, may_post: bool = True) -> None:
        """The four properties, each its own assertion (Hypothesis shrinks each apart)."""
        bad = self.logs.bad()
        server_errors = [s for s in sent.statuses if s >= 500]
        if server_errors:
            crash = sent.crashes[0] if sent.crashes else None
            cause = type(crash).__name__ if crash else (bad[0][0] if bad else "unlogged")
            raise broken("answered_5xx", cause)(
                f"answered {server_errors}" + (f": {crash!r}"[:300] if crash else ""))
        if bad:
            raise broken("logged", bad[0][0])(
                "error or traceback in the log:\n" + "\n".join(line for _, line in bad[:5]))
        approved = self.approved_hubs() if may_post else set()
        unapproved = [hub for hub in self.arm.posted if hub not in approved]
        if unapproved:
            raise broken("unapproved_post", "")(
                f"failover POSTs for {unapproved}; approved by an approver: {sorted(approved)}")
        outgoing = self.outgoing()
        if outgoing > MAX_OUTGOING:
            raise broken("unbounded", "")(
                f"{outgoing} outgoing requests (ARM: {dict(self.arm.counts)})")
