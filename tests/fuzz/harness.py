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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import responses
from sqlalchemy import Engine
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from bot.bootstrap import bootstrap, make_poller
from bot.config import load_settings
from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import Actor
from bot.hubs.azure import AzureIotHubGateway
from bot.poller import Poller
from bot.roles.single import Runtime, build_runtime
from bot.service import SubmitBatch, SubmitFailover, Submitted
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.client import make_web_client
from bot.store.base import AuditQuery
from bot.store.migrate import upgrade
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.slack_api import FakeSlackServer
from tests import support
from tests.fuzz.arm import (
    EDGE_HUB,
    HUB,
    PUBLIC_ARM,
    SUBSCRIPTION,
    ArmRoutes,
    StaticTokenCredential,
)
from tests.support import SyncExecutor

SECRET = "fuzz-signing-secret"
REQUESTER, APPROVER, BYSTANDER = "U0ALICE", "U0BOB", "U0CAROL"
USERS = (REQUESTER, APPROVER, BYSTANDER)
CHANNEL, OTHER_CHANNEL = "C0INCIDENT", "C0RANDOM"
ONCALL_GROUP = "S0ONCALL"
SEED_KEY = "fuzz-seed"
# Slack's trigger ids work once: a drawn body carries this, and each send a fresh one (so a
# replayed example is the same example).
TRIGGER = "0.0.fuzz-trigger"
APP_ID = "A0BOT"
# Outgoing requests (Slack calls, response_url posts, ARM requests) one example may cause.
# An honest flow needs at most 10 (an approval and two polls; a region's dialog needs 9), an
# example at most three of them: 60 leaves room, and catches paging without end.
MAX_OUTGOING = 60
WATCHED_LOGGERS = ("bot", "slack_bolt", "failover-bot")



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
                cause = cause_of(record)
                found.append((f"{record.name}_{cause}",
                              f"{record.name} {record.levelname} {cause}: {text[:300]}"))
        return found


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


def cause_of(record: logging.LogRecord) -> str:
    """A cause's name, the same for every record of one bug: the words of the log line's
    template (without what a payload put in it), and the exception type or missing key it
    names."""
    if record.exc_info and record.exc_info[0]:
        return record.exc_info[0].__name__
    if record.args:
        template = str(record.msg)
        args = record.args if isinstance(record.args, tuple) else ()
        named = [a for a in args if isinstance(a, str) and _EXCEPTION.fullmatch(a)]
    else:
        template = record.getMessage()
        named = _MISSING_KEY.findall(template)  # Bolt: "… internal function ('trigger_id')"
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|\[.*\]|\{.*\}", "", template)
    words = [w for w in text.split() if w.isalpha()][:6]
    return "_".join(words + named) or "unknown"


_EXCEPTION = re.compile(r"[A-Z]\w*(Error|Exception|Refused|Failure)")
_MISSING_KEY = re.compile(r"\('([A-Za-z_]{1,30})'\)")


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
        self._components = components
        self._client = make_web_client(slack.bot_token, self.server.api_url,
                                       sleep=lambda _: None)
        self.runtime: Runtime = build_runtime(components, client=self._client,
                                              executor=SyncExecutor())
        self._poller: Poller | None = None
        self.web = TestClient(self.runtime.web_app)  # a server's exception is raised here
        self.web.__enter__()  # one event loop for every request, as under uvicorn
        self.logs = LogRecords()
        self._levels: dict[str, int] = {}
        self.request_id = self.batch_id = ""  # as seeded, and as drawn bodies name them
        self._examples = self._poller_of = 0
        self._current = ("", "")  # this example's names for them
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
        if self._poller is not None:
            self._poller.close()
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
        self._examples += 1
        # New ids each example: nothing a listener remembers in memory (a message's ts, by
        # request id) carries over from one example to the next.
        self._current = (f"fr-{self._examples:08x}", f"fb-{self._examples:08x}")
        self._restore(self.clock.now() - self._seeded_at)
        self.logs.records.clear()
        slack = self.server.slack
        self._slack_before = len(slack.calls()) + len(slack.responses)
        self.arm.counts.clear()
        self.arm.posted.clear()
        yield Sent()

    def poller(self) -> Poller:
        """This example's poller (its outbox and schedule start empty), as the bot wires it."""
        if self._poller is None or self._poller_of != self._examples:
            if self._poller is not None:
                self._poller.close()
            self._poller = make_poller(self._components, self.runtime.notifier,
                                       boards=SlackBoardNotifier(self._client,
                                                                 self.service.boards))
            self._poller_of = self._examples
        return self._poller

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
        """Every table emptied, then the seeded rows written back, ``shift`` later and with
        this example's ids."""
        with self.engine.begin() as connection:
            for table in reversed(SQLModel.metadata.sorted_tables):
                connection.execute(table.delete())
            for table, rows in getattr(self, "_rows", {}).items():
                if rows:
                    connection.execute(table.insert(), [
                        {k: self._moved(v, shift) for k, v in r.items()} for r in rows])

    def _moved(self, value: Any, shift: timedelta) -> Any:
        if isinstance(value, datetime):
            return value + shift
        if isinstance(value, str):
            return self.renamed(value)
        return value

    def renamed(self, text: str) -> str:
        """``text`` with the seeded ids as this example names them."""
        request_id, batch_id = self._current
        return text.replace(self.request_id, request_id).replace(self.batch_id, batch_id)

    def current(self, body: bytes) -> bytes:
        """A drawn body as this example sends it: its ids, and a fresh trigger id."""
        text = self.renamed(body.decode("utf-8", errors="surrogateescape"))
        return text.replace(TRIGGER, self.server.slack.new_trigger()).encode(
            "utf-8", errors="surrogateescape")

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

    def signed(self, body: str, content_type: str = support.FORM) -> dict[str, str]:
        return support.signed(body, secret=SECRET, content_type=content_type)

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
