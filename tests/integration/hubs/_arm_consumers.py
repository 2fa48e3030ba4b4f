"""A stateful fake of the ARM endpoints that restart a hub's consumers, served through
``responses``: Function apps (``POST …/Microsoft.Web/sites/{name}/restart``, 200) and Stream
Analytics jobs (``POST …/streamingjobs/{name}/stop`` and ``/start``, 202 and an operation
followed to its end).

Requests and answers take the shapes of ``fixtures/`` (``webapps_restart.json``,
``streamingjob_stop.json``, ``streamingjob_start_lastoutputeventtime.json``: api-versions,
the start body, the status codes; ``consumer_arm_errors.json``: ARM's error answers). The
operation URLs follow ARM's asynchronous-operation convention: the stop answers with both
``Azure-AsyncOperation`` (a ``{"status": …}`` body) and ``Location`` (202 until done), the
start with ``Location`` alone, so both ways of following are exercised. Time is a FakeClock:
an operation ends ``operation_time`` after it began.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
import responses

from bot.domain.clock import FakeClock

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC_ARM = "https://management.azure.com"
Answer = tuple[int, dict[str, str], Any]  # status 0: the answer is lost (body: the exception)


def example(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


RESTART = example("webapps_restart.json")
STOP = example("streamingjob_stop.json")
START = example("streamingjob_start_lastoutputeventtime.json")
ERRORS = example("consumer_arm_errors.json")


def arm_error(code: str, **words: str) -> Answer:
    """One of ARM's error answers from ``consumer_arm_errors.json``, its blanks filled."""
    error = ERRORS[code]
    body = json.loads(json.dumps(error["body"]))
    body["error"]["message"] = body["error"]["message"].format(**words)
    return error["status"], {"Content-Type": "application/json", **error.get("headers", {})}, \
        json.dumps(body)


@dataclass(frozen=True)
class Lost:
    """No answer: a read time-out once Azure has acted (``reached_azure``), or a connection
    refused before it could."""

    reached_azure: bool

    @property
    def error(self) -> Exception:
        return (requests.exceptions.ReadTimeout("read timed out") if self.reached_azure
                else requests.exceptions.ConnectionError("connection refused"))


@dataclass
class Job:
    name: str
    state: str = "Running"
    location: str = "westeurope"
    started_with: list[dict[str, Any]] = field(default_factory=list)  # each start's body


@dataclass
class Operation:
    id: str
    subscription: str
    job: Job
    action: str  # "stop" | "start"
    ends_at: datetime
    error: dict[str, str] | None = None
    settled: bool = False

    @property
    def status(self) -> str:
        return "Failed" if self.error and self.settled else (
            "Succeeded" if self.settled else "InProgress")


class ArmConsumers:
    """Function apps and Stream Analytics jobs in one cloud; ``sent`` lists what the bot sent
    as ``(route, method, path)``, ``bodies`` the JSON bodies of the starts."""

    def __init__(self, rsps: responses.RequestsMock | None, clock: FakeClock, *,
                 base_url: str = PUBLIC_ARM, operation_time: timedelta = timedelta(seconds=45),
                 retry_after: int = 10) -> None:
        self.clock = clock
        self.base_url = base_url
        self.operation_time = operation_time
        self.retry_after = retry_after
        self.sites: dict[str, int] = {}  # name → restarts Azure took
        self.jobs: dict[str, Job] = {}
        self.operations: dict[str, Operation] = {}
        self.sent: list[tuple[str, str, str]] = []
        self.injected: dict[str, list[Answer | Lost]] = {}
        self.failing: dict[tuple[str, str], dict[str, str]] = {}
        self.never_ending = False
        pattern = re.compile(re.escape(base_url) + r"/subscriptions/[^/]+/(?:resourcegroups/"
                             r"[^/]+/)?providers/Microsoft\.(?:Web|StreamAnalytics)/.*", re.I)
        if rsps is None:  # another server calls answer (tests/drills/arm_server.py)
            return
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self.answer,
                              content_type="application/json")

    # -- set-up ------------------------------------------------------------------------

    def add_function_app(self, name: str) -> None:
        self.sites[name] = 0

    def add_job(self, name: str, state: str = "Running") -> Job:
        self.jobs[name] = Job(name, state)
        return self.jobs[name]

    def answer_next(self, route: str, answer: Answer) -> None:
        """The next request on ``route`` (``restart``, ``stop``, ``start``, ``operation``)
        gets ``answer`` instead of Azure's usual one."""
        self.injected.setdefault(route, []).append(answer)

    def lose_next(self, route: str, *, reached_azure: bool) -> None:
        """The next request on ``route`` gets no answer; ``reached_azure``: Azure acted on it."""
        self.injected.setdefault(route, []).append(Lost(reached_azure))

    def fail_next(self, job: str, action: str, code: str, message: str) -> None:
        """The job's next ``stop`` or ``start`` operation ends Failed with Azure's words."""
        self.failing[(job, action)] = {"code": code, "message": message}

    def requests_on(self, route: str) -> int:
        return sum(1 for sent_route, _, _ in self.sent if sent_route == route)

    # -- HTTP --------------------------------------------------------------------------

    def answer(self, request: requests.PreparedRequest) -> Answer:
        url = urlparse(request.url or "")
        if not str(request.headers.get("Authorization") or "").startswith("Bearer "):
            return 401, {}, json.dumps({"error": {"code": "AuthenticationFailed",
                                                  "message": "Authentication failed."}})
        for op in self.operations.values():
            self._settle(op)
        routes = [
            ("POST", r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Web/"
                     r"sites/([^/]+)/restart", self._restart),
            ("POST", r"/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/Microsoft\."
                     r"StreamAnalytics/streamingjobs/([^/]+)/(stop|start)", self._stop_or_start),
            ("GET", r"/subscriptions/([^/]+)/providers/Microsoft\.StreamAnalytics/locations/"
                    r"[^/]+/(operationStatuses|operationResults)/([^/]+)", self._operation),
        ]
        for method, pattern, handler in routes:
            found = re.fullmatch(pattern, url.path, flags=re.IGNORECASE)
            if request.method != method or not found:
                continue
            route = found.group(4) if handler == self._stop_or_start else handler.__name__[1:]
            self.sent.append((route, method, url.path))
            injected = self.injected.get(route)
            instead = injected.pop(0) if injected else None
            if isinstance(instead, tuple):
                return instead
            if isinstance(instead, Lost) and not instead.reached_azure:
                return 0, {}, instead.error
            actual = handler(request, parse_qs(url.query), *found.groups())
            return (0, {}, instead.error) if isinstance(instead, Lost) else actual
        return 404, {}, json.dumps({"error": {"code": "NoRoute", "message": url.path}})

    def _restart(self, request: Any, query: dict[str, list[str]], subscription: str,
                 group: str, name: str) -> Answer:
        assert query["api-version"] == [RESTART["parameters"]["api-version"]]
        if name not in self.sites:
            return arm_error("ResourceNotFound", type="Microsoft.Web/sites", name=name,
                             group=group)
        self.sites[name] += 1
        return 200, {}, ""

    def _stop_or_start(self, request: Any, query: dict[str, list[str]], subscription: str,
                       group: str, name: str, action: str) -> Answer:
        shape = STOP if action == "stop" else START
        assert query["api-version"] == [shape["parameters"]["api-version"]]
        job = self.jobs.get(name)
        if job is None:
            return arm_error("ResourceNotFound", type="Microsoft.StreamAnalytics/streamingjobs",
                             name=name, group=group)
        if action == "start":
            job.started_with.append(json.loads(request.body or b"null"))
        op = Operation(uuid.uuid4().hex, subscription, job, action,
                       self.clock.now() + self.operation_time,
                       self.failing.pop((name, action), None))
        self.operations[op.id] = op
        location = self._operation_url(op, "operationResults")
        headers = {"Location": location, "Retry-After": str(self.retry_after)}
        if action == "stop":
            headers["Azure-AsyncOperation"] = self._operation_url(op, "operationStatuses")
        return 202, headers, ""

    def _operation(self, request: Any, query: Any, subscription: str, kind: str,
                   op_id: str) -> Answer:
        op = self.operations[op_id]
        wait = {"Retry-After": str(self.retry_after)}
        if kind == "operationStatuses":
            body: dict[str, Any] = {"status": op.status}
            if op.status == "Failed":
                body["error"] = op.error
            return 200, wait if not op.settled else {}, json.dumps(body)
        if not op.settled:
            return 202, wait, ""
        if op.error:
            return 400, {}, json.dumps({"error": op.error})
        return 200, {}, ""

    def _operation_url(self, op: Operation, kind: str) -> str:
        location = op.job.location.replace(" ", "%20")
        return (f"{self.base_url}/subscriptions/{op.subscription}/providers/"
                f"Microsoft.StreamAnalytics/"
                f"locations/{location}/{kind}/{op.id}?api-version=2020-03-01")

    def _settle(self, op: Operation) -> None:
        if op.settled or self.never_ending or self.clock.now() < op.ends_at:
            return
        op.settled = True
        if op.error is None:
            op.job.state = "Stopped" if op.action == "stop" else "Running"
