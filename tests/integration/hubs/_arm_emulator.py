"""A stateful fake of the ARM endpoints the Azure gateway uses, served through ``responses``.

Answers are built from the Azure REST API spec examples in ``fixtures/``; hubs go through the
lifecycle Azure shows: 202 + Azure-AsyncOperation on the POST, ``Running`` polls, then
``Succeeded`` with the roles swapped and a new Event Hub-compatible endpoint. Time is a FakeClock.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests
import responses
from _azure_fakes import SUBSCRIPTION

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef
from bot.domain.regions import display_name, region_key, same_region

FIXTURES = Path(__file__).parent / "fixtures"
Answer = tuple[int, dict[str, str], Any]  # status (0: lost, the body is the exception)
Tamper = Callable[[requests.PreparedRequest, Answer], Answer]
PUBLIC_ARM = "https://management.azure.com"
API_VERSION = "2023-06-30"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# The bot's identity in the emulated Activity Log (a service principal: its app id).
BOT_CALLER = "5f1c1d2e-0a0b-4c4d-8e8f-b0t0b0t0b0t0"
PORTAL_APP = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"  # the Azure portal's well-known app id
FAILOVER_OPERATION = "Microsoft.Devices/IotHubs/failover/action"


@dataclass
class EmulatedOperation:
    id: str
    target: str
    ends_at: datetime
    status: str = "Running"
    error: dict[str, str] | None = None
    caller: str = BOT_CALLER
    app_id: str = BOT_CALLER
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class EmulatedHub:
    name: str
    subscription_id: str
    resource_group: str
    home: str
    secondary: str
    devices: int
    active: str = ""
    state: str = "Active"
    provisioning_state: str = "Succeeded"
    endpoint: str = ""
    operation: EmulatedOperation | None = None
    fail_next: dict[str, str] | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.active = self.active or self.home
        self.endpoint = self.endpoint or new_endpoint(self.name)

    @property
    def ref(self) -> HubRef:
        return HubRef(self.name, self.subscription_id, self.resource_group)

    @property
    def passive(self) -> str:
        return self.secondary if same_region(self.active, self.home) else self.home


def new_endpoint(hub: str) -> str:
    return (f"sb://iothub-ns-{hub[:12]}-{secrets.randbelow(10**6)}-"
            f"{secrets.token_hex(5)}.servicebus.windows.net/")


@dataclass
class Injected:
    throttle_polls: list[float] = field(default_factory=list)
    start_answers: list[Any] = field(default_factory=list)
    hub_reads: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    activity_answers: list[tuple[int, str, str]] = field(default_factory=list)


class ArmEmulator:
    """Emulates IoT Hubs in one Azure cloud; ``requests`` counts what the gateway sent.

    With ``rsps`` it answers through ``responses``; with ``None`` another server calls
    :meth:`answer` (``tests/drills/arm_server.py`` serves it over real HTTP).
    """

    def __init__(self, rsps: responses.RequestsMock | None, clock: FakeClock, *,
                 base_url: str = PUBLIC_ARM, page_size: int = 100,
                 operation_time: timedelta = timedelta(minutes=10)) -> None:
        self.clock = clock
        self.base_url = base_url
        self.page_size = page_size
        self.operation_time = operation_time
        self.hubs: list[EmulatedHub] = []
        self.operations: dict[str, tuple[EmulatedHub, EmulatedOperation]] = {}
        self.requests: Counter[str] = Counter()
        self.post_bodies: list[dict[str, Any]] = []
        self.hosts: set[str] = set()
        self.injected = Injected()
        self.activity: list[dict[str, Any]] = []  # Activity Log events, as Azure returns them
        self.tampering: dict[str, Tamper] = {}
        if rsps is not None:
            host = re.escape(base_url)
            for method in (responses.GET, responses.POST):
                rsps.add_callback(method, re.compile(host + r"/.*"), callback=self.answer,
                                  content_type="application/json")

    # -- set-up ----------------------------------------------------------------------

    def add_hub(self, name: str, home: str, secondary: str, devices: int = 0, *,
                subscription_id: str = SUBSCRIPTION,
                resource_group: str = "myResourceGroup",
                tags: dict[str, str] | None = None) -> HubRef:
        hub = EmulatedHub(name, subscription_id, resource_group, display_name(home),
                          display_name(secondary), devices, tags=dict(tags or {}))
        self.hubs.append(hub)
        return hub.ref

    def hub(self, name: str) -> EmulatedHub:
        return next(h for h in self.hubs if h.name == name)

    def fail_next_operation(self, name: str, code: str, message: str) -> None:
        self.hub(name).fail_next = {"code": code, "message": message}

    def throttle_next_poll(self, retry_after: float) -> None:
        self.injected.throttle_polls.append(retry_after)

    def answer_next_start_with(self, status: int, body: dict[str, Any] | None = None,
                               headers: dict[str, str] | None = None) -> None:
        self.injected.start_answers.append((status, headers or {}, json.dumps(body or {})))

    def lose_next_start_answer(self, *, reached_azure: bool,
                               error: Exception | None = None) -> None:
        """The next POST times out; ``reached_azure``: Azure started the failover anyway."""
        self.injected.start_answers.append(
            ("lost", reached_azure, error or requests.exceptions.ReadTimeout("read timed out")))

    def answer_next_activity_read_with(self, status: int, code: str, message: str) -> None:
        """The next Activity Log read fails (403 no permission, 429 throttled…)."""
        self.injected.activity_answers.append((status, code, message))

    def tamper(self, route: str, change: Tamper | None) -> None:
        """Every answer on ``route`` (a name in :attr:`requests`: ``activity_log``, ``list``,
        ``get``…) passes through ``change``, which may alter it (a field of the wrong type, a
        ``nextLink`` back to the same page, a slow answer); ``None``: answers are Azure's again."""
        if change is None:
            self.tampering.pop(route, None)
        else:
            self.tampering[route] = change

    def outside_failover(self, name: str, *, caller: str, app_id: str = PORTAL_APP,
                         ago: timedelta = timedelta(0), status: str = "Succeeded") -> None:
        """Someone fails the hub over (or back) outside the bot, ``ago`` before now: Azure
        records it in the Activity Log and, if it has ended and succeeded, the roles swap."""
        hub = self.hub(name)
        self._settle(hub)
        started = self.clock.now() - ago
        op = EmulatedOperation(secrets.token_urlsafe(24), hub.passive,
                               started + self.operation_time, caller=caller, app_id=app_id)
        self._record(hub, op, "Started", started)
        self._record(hub, op, "Accepted", started)
        if op.ends_at > self.clock.now():
            hub.operation = op
            hub.state, hub.provisioning_state = "FailingOver", "Activating"
            self.operations[op.id] = (hub, op)
            if status != "Succeeded":
                hub.fail_next = {"code": "FailoverFailed", "message": "Failover failed."}
            return
        op.status = status
        self._record(hub, op, status, op.ends_at)
        if status == "Succeeded":
            hub.active = op.target
            hub.endpoint = new_endpoint(hub.name)

    def microsoft_failover(self, name: str) -> None:
        """Microsoft fails the hub over (a regional disaster): the roles swap, no record."""
        hub = self.hub(name)
        hub.active = hub.passive
        hub.endpoint = new_endpoint(hub.name)

    def _record(self, hub: EmulatedHub, op: EmulatedOperation, status: str,
                at: datetime) -> None:
        """One Activity Log event, in the shape of Azure's ActivityLogs_List example."""
        resource_id = (f"/subscriptions/{hub.subscription_id}/resourceGroups/"
                       f"{hub.resource_group}/providers/Microsoft.Devices/IotHubs/{hub.name}")
        event_id = str(uuid.uuid4())
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        sub_status = {"Accepted": "Accepted", "Succeeded": "OK"}.get(status, "")
        self.activity.append({
            "authorization": {"action": FAILOVER_OPERATION, "scope": resource_id},
            "caller": op.caller,
            "channels": "Operation",
            "claims": {"appid": op.app_id, "http://schemas.microsoft.com/identity/claims/"
                       "objectidentifier": str(uuid.uuid5(uuid.NAMESPACE_OID, op.caller))},
            "correlationId": op.correlation_id,
            "description": "",
            "eventDataId": event_id,
            "eventName": {"value": "EndRequest" if status != "Started" else "BeginRequest",
                          "localizedValue": "End request" if status != "Started"
                          else "Begin request"},
            "category": {"value": "Administrative", "localizedValue": "Administrative"},
            "id": f"{resource_id}/events/{event_id}/ticks/{int(at.timestamp() * 10**7)}",
            "level": "Informational",
            "resourceGroupName": hub.resource_group,
            "resourceProviderName": {"value": "Microsoft.Devices",
                                     "localizedValue": "Microsoft.Devices"},
            "resourceId": resource_id,
            "resourceType": {"value": "Microsoft.Devices/IotHubs",
                             "localizedValue": "Microsoft.Devices/IotHubs"},
            "operationId": op.correlation_id,
            "operationName": {"value": FAILOVER_OPERATION,
                              "localizedValue": "Failover IotHub"},
            "properties": {"statusCode": sub_status or status},
            "status": {"value": status, "localizedValue": status},
            "subStatus": {"value": sub_status, "localizedValue": sub_status},
            "eventTimestamp": stamp,
            "submissionTimestamp": stamp,
            "subscriptionId": hub.subscription_id,
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        })

    # -- time ------------------------------------------------------------------------

    def _settle(self, hub: EmulatedHub) -> None:
        op = hub.operation
        if op is None or self.clock.now() < op.ends_at:
            return
        if hub.fail_next:
            op.status, op.error = "Failed", hub.fail_next
            hub.fail_next = None
            self._record(hub, op, "Failed", op.ends_at)
        else:
            self._record(hub, op, "Succeeded", op.ends_at)
            op.status = "Succeeded"
            hub.active = op.target
            hub.endpoint = new_endpoint(hub.name)
        hub.state, hub.provisioning_state = "Active", "Succeeded"
        hub.operation = None

    # -- HTTP ------------------------------------------------------------------------

    def answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], Any]:
        """(status, headers, body) for one request; status 0: the answer is lost (body is
        the exception)."""
        url = urlparse(request.url or "")
        self.hosts.add(url.hostname or "")
        if not str(request.headers.get("Authorization") or "").startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed.")
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        for hub in self.hubs:
            self._settle(hub)
        routes: list[tuple[str, str, Callable[..., tuple[int, dict[str, str], Any]]]] = [
            ("GET", r"/subscriptions/([^/]+)/providers/Microsoft\.Devices/IotHubs", self._list),
            ("GET", r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Devices/"
                    r"IotHubs/([^/]+)/IotHubStats", self._stats),
            ("GET", r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Devices/"
                    r"IotHubs/([^/]+)", self._get),
            ("POST", r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Devices/"
                     r"IotHubs/([^/]+)/failover", self._failover),
            ("GET", r"/subscriptions/([^/]+)/providers/Microsoft\.Insights/eventtypes/"
                    r"management/values", self._activity_log),
            ("GET", r"/subscriptions/([^/]+)/providers/Microsoft\.Devices/locations/([^/]+)/"
                    r"operationResults/([^/]+)", self._operation),
        ]
        for method, pattern, handler in routes:
            found = re.fullmatch(pattern, path, flags=re.IGNORECASE)
            if method == request.method and found:
                route = handler.__name__.strip("_")
                self.requests[route] += 1
                answer = handler(request, query, *found.groups())
                change = self.tampering.get(route)
                return change(request, answer) if change else answer
        return _error(404, "NoRoute", f"no route for {request.method} {path}")

    def _find(self, subscription: str, group: str, name: str) -> EmulatedHub | None:
        for hub in self.hubs:
            if (hub.subscription_id, hub.resource_group.lower(), hub.name.lower()) == (
                    subscription, group.lower(), name.lower()):
                return hub
        return None

    def _not_found(self, group: str, name: str) -> tuple[int, dict[str, str], str]:
        return _error(404, "ResourceNotFound",
                      f"The Resource 'Microsoft.Devices/IotHubs/{name}' under resource group "
                      f"'{group}' was not found. For more details please go to "
                      "https://aka.ms/ARMResourceNotFoundFix")

    def _list(self, request: Any, query: dict[str, list[str]],
              subscription: str) -> tuple[int, dict[str, str], str]:
        mine = [h for h in self.hubs if h.subscription_id == subscription]
        skip = int(query.get("$skiptoken", ["0"])[0])
        page = mine[skip:skip + self.page_size]
        body: dict[str, Any] = {"value": [self._description(h) for h in page]}
        if skip + self.page_size < len(mine):
            body["nextLink"] = (f"{self.base_url}/subscriptions/{subscription}/providers/"
                                f"Microsoft.Devices/IotHubs?api-version={API_VERSION}"
                                f"&$skiptoken={skip + self.page_size}")
        return 200, {}, json.dumps(body)

    def _get(self, request: Any, query: Any, subscription: str, group: str,
             name: str) -> tuple[int, dict[str, str], str]:
        if self.injected.hub_reads:
            status, body = self.injected.hub_reads.pop(0)
            return status, {}, json.dumps(body)
        hub = self._find(subscription, group, name)
        if hub is None:
            return self._not_found(group, name)
        return 200, {}, json.dumps(self._description(hub))

    def _stats(self, request: Any, query: Any, subscription: str, group: str,
               name: str) -> tuple[int, dict[str, str], str]:
        hub = self._find(subscription, group, name)
        if hub is None:
            return self._not_found(group, name)
        body = copy.deepcopy(fixture("iothub_stats.json")["responses"]["200"]["body"])
        body.update(totalDeviceCount=hub.devices, enabledDeviceCount=hub.devices)
        return 200, {}, json.dumps(body)

    def _failover(self, request: Any, query: Any, subscription: str, group: str,
                  name: str) -> tuple[int, dict[str, str], Any]:
        self.post_bodies.append(json.loads(request.body or b"{}"))
        lost: Exception | None = None
        if self.injected.start_answers:
            answer = self.injected.start_answers.pop(0)
            if answer[0] != "lost":
                return answer
            _, reached_azure, lost = answer
            if not reached_azure:
                return 0, {}, lost
        hub = self._find(subscription, group, name)
        if hub is None:
            return self._not_found(group, name)
        if hub.operation is not None or hub.state != "Active":
            return _error(409, "IotHubNotActive",
                          f"IotHub '{hub.name}' is not active: state is {hub.state}.")
        region = self.post_bodies[-1].get("failoverRegion", "")
        if not same_region(region, hub.passive):
            return _error(400, "InvalidFailoverRegion",
                          f"Failover region '{region}' is not the paired region of the hub.")
        op = EmulatedOperation(secrets.token_urlsafe(24), hub.passive,
                               self.clock.now() + self.operation_time)
        hub.operation = op
        hub.state, hub.provisioning_state = "FailingOver", "Activating"
        self.operations[op.id] = (hub, op)
        self._record(hub, op, "Started", self.clock.now())
        self._record(hub, op, "Accepted", self.clock.now())
        if lost is not None:
            return 0, {}, lost
        # The fixture's 202 headers, pointed at this operation (as real traffic shows them).
        headers = fixture("IotHub_ManualFailover.json")["responses"]["202"]["headers"]
        results = (f"{self.base_url}/subscriptions/{subscription}/providers/Microsoft.Devices/"
                   f"locations/{region_key(hub.active)}/operationResults/{op.id}")
        async_query = urlparse(headers["Azure-AsyncOperation"]).query
        location_query = urlparse(headers["Location"]).query
        return 202, {"Azure-AsyncOperation": f"{results}?{async_query}",
                     "Location": f"{results}?{location_query}"}, ""

    def _operation(self, request: Any, query: dict[str, list[str]], subscription: str,
                   location: str, op_id: str) -> tuple[int, dict[str, str], str]:
        if op_id not in self.operations:
            return _error(404, "OperationNotFound", f"Operation '{op_id}' was not found.")
        if "asyncinfo" not in query:
            self.requests["final_location"] += 1
            return 200, {}, ""
        if self.injected.throttle_polls:
            retry_after = self.injected.throttle_polls.pop(0)
            status, headers, body = _error(
                429, "TooManyRequests",
                "Number of read requests for subscription exceeded the limit.")
            return status, {**headers, "Retry-After": f"{retry_after:g}"}, body
        _, op = self.operations[op_id]
        status_body: dict[str, Any] = {"status": op.status}
        if op.error:
            status_body["error"] = op.error
        return 200, {}, json.dumps(status_body)

    def _activity_log(self, request: Any, query: dict[str, list[str]],
                      subscription: str) -> tuple[int, dict[str, str], str]:
        if self.injected.activity_answers:
            status, code, message = self.injected.activity_answers.pop(0)
            answer = _error(status, code, message)
            extra = {"Retry-After": "30"} if status == 429 else {}
            return status, {**answer[1], **extra}, answer[2]
        raw = query.get("$filter", [""])[0]
        since = re.search(r"eventTimestamp ge '([^']+)'", raw)
        uri = re.search(r"resourceUri eq '([^']+)'", raw)
        if since is None:
            return _error(400, "BadRequest", "The $filter must include eventTimestamp ge.")
        start = datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
        events = [e for e in self.activity
                  if e["subscriptionId"] == subscription
                  and datetime.fromisoformat(e["eventTimestamp"][:26] + "+00:00") >= start
                  and (uri is None or e["resourceId"].lower() == uri.group(1).lower())]
        # Azure answers newest first, a page at a time.
        events.sort(key=lambda e: e["eventTimestamp"], reverse=True)
        skip = int(query.get("$skiptoken", ["0"])[0])
        body: dict[str, Any] = {"value": events[skip:skip + self.page_size]}
        if skip + self.page_size < len(events):
            body["nextLink"] = (
                f"{self.base_url}/subscriptions/{subscription}/providers/Microsoft.Insights/"
                f"eventtypes/management/values?api-version=2015-04-01&"
                f"{urlencode({'$filter': raw, '$skiptoken': skip + self.page_size})}")
        return 200, {}, json.dumps(body)

    def _description(self, hub: EmulatedHub) -> dict[str, Any]:
        body = copy.deepcopy(fixture("iothub_get.json")["responses"]["200"]["body"])
        body["id"] = (f"/subscriptions/{hub.subscription_id}/resourceGroups/"
                      f"{hub.resource_group}/providers/Microsoft.Devices/IotHubs/{hub.name}")
        body["name"] = hub.name
        body["location"] = region_key(hub.home)
        body["tags"] = dict(hub.tags)
        props = body["properties"]
        props["state"], props["provisioningState"] = hub.state, hub.provisioning_state
        props["hostName"] = f"{hub.name}.azure-devices.net"
        props["eventHubEndpoints"]["events"].update(endpoint=hub.endpoint, path=hub.name)
        props["locations"] = [{"location": hub.active, "role": "primary"},
                              {"location": hub.passive, "role": "secondary"}]
        return body


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(
        {"error": {"code": code, "message": message}})
