"""A fake of ARM's metrics endpoint (Azure Monitor, api-version 2024-02-01) for IoT hubs,
served through ``responses``: ``GET /{hub id}/providers/Microsoft.Insights/metrics``.

Answers are built from ``fixtures/metrics_list.json`` (the spec example ``GetMetric.json`` in
an IoT hub's words): one point per minute of the asked ``timespan``, each carrying the asked
aggregation, or only its ``timeStamp`` when the minute has no data. Azure's minutes fill in
late, and so do these: a minute is whole once it ended ``late`` ago (on the clock given: a
FakeClock, or the real one for a bot in another process); until then its Total is the part
received so far and its Average (one sample a minute, sent late) is missing.

Alone, :meth:`ArmMetrics.register` adds its own route. Beside the hub emulator
(``_arm_emulator.ArmEmulator``, whose catch-all route answers every ARM path), build that one
with ``rsps=None`` and register :func:`serve_both` instead: ``responses`` gives a request to
one route only.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import requests
import responses
from _arm_emulator import PUBLIC_ARM, Answer, Tamper, fixture

from bot.domain.clock import Clock
from bot.domain.model import HubRef

METRICS_PATH = re.compile(
    r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Devices/IotHubs/"
    r"([^/]+)/providers/Microsoft\.Insights/metrics", re.IGNORECASE)
MINUTE = timedelta(minutes=1)
NAMES = {"connectedDeviceCount": ("Connected devices",
                                  "Number of devices connected to your IoT hub"),
         "d2c.telemetry.ingress.success": (
             "Telemetry messages sent",
             "Number of device-to-cloud telemetry messages sent successfully to your IoT hub")}
Minutes = Mapping[datetime, float | None]


class ArmMetrics:
    """IoT hubs' metrics in one Azure cloud; ``calls`` holds each request's query."""

    def __init__(self, clock: Clock, *, base_url: str = PUBLIC_ARM,
                 late: timedelta = timedelta(0)) -> None:
        self.clock = clock
        self.base_url = base_url
        self.late = late
        self.metrics: dict[tuple[str, str, str], dict[str, dict[datetime, float | None]]] = {}
        self.calls: list[dict[str, str]] = []
        self.hosts: set[str] = set()
        self.injected: list[Answer] = []
        self.metric_errors: dict[str, tuple[str, str]] = {}
        self.tamper: Tamper | None = None

    def register(self, rsps: responses.RequestsMock) -> ArmMetrics:
        rsps.add_callback(responses.GET, re.compile(re.escape(self.base_url) + r"/.*"),
                          callback=self.answer, content_type="application/json")
        return self

    # -- set-up ----------------------------------------------------------------------

    def hub(self, ref: HubRef, *, devices: Minutes | None = None,
            telemetry: Minutes | None = None) -> HubRef:
        """The hub's minutes (more of them with each call: later ones replace earlier)."""
        series = self.metrics.setdefault(_key(ref), {name: {} for name in NAMES})
        series["connectedDeviceCount"].update(devices or {})
        series["d2c.telemetry.ingress.success"].update(telemetry or {})
        return ref

    def answer_next_with(self, status: int, code: str, message: str, *,
                         retry_after: float | None = None) -> None:
        """The next request fails (403 no permission, 429 throttled…), as ARM says it."""
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        self.injected.append((status, headers, json.dumps(
            {"error": {"code": code, "message": message}})))

    def fail_metric(self, metric: str, code: str, message: str) -> None:
        """Answers for ``metric`` carry Azure's per-metric error inside a 200 (the spec
        example ``GetMetricError.json``: ``errorCode``, ``errorMessage``, no series)."""
        self.metric_errors[metric] = (code, message)

    # -- HTTP ------------------------------------------------------------------------

    def answer(self, request: requests.PreparedRequest) -> Answer:
        url = urlparse(request.url or "")
        self.hosts.add(url.hostname or "")
        found = METRICS_PATH.fullmatch(unquote(url.path).replace("//", "/"))
        if found is None:
            return _error(404, "NoRoute", f"no route for {request.method} {url.path}")
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.calls.append(query)
        if not str(request.headers.get("Authorization") or "").startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed.")
        if self.injected:
            return self.injected.pop(0)
        answer = self._metrics(found.groups(), query)
        return self.tamper(request, answer) if self.tamper else answer

    def _metrics(self, hub: tuple[str, ...], query: dict[str, str]) -> Answer:
        subscription, group, name = hub
        series = self.metrics.get((subscription.lower(), group.lower(), name.lower()))
        if series is None:
            return _error(404, "ResourceNotFound",
                          f"The Resource 'Microsoft.Devices/IotHubs/{name}' under resource "
                          f"group '{group}' was not found.")
        if query.get("interval", "PT1M").upper() != "PT1M":
            return _error(400, "BadRequest", "Only PT1M is emulated.")
        start, end = (_parse(t) for t in query["timespan"].split("/"))
        aggregations = [a.strip().lower() for a in query.get("aggregation", "").split(",")]
        body = copy.deepcopy(fixture("metrics_list.json")["responses"]["200"]["body"])
        template = body["value"][0]
        body["timespan"] = query["timespan"]
        body["value"] = []
        for metric in query.get("metricnames", "").split(","):
            if metric not in NAMES:
                return _error(400, "BadRequest", f"Failed to find metric configuration for "
                              f"provider: Microsoft.Devices, resource Type: IotHubs, metric: "
                              f"{metric}, Valid metrics: {', '.join(NAMES)}")
            entry = copy.deepcopy(template)
            entry["id"] = (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
                           f"Microsoft.Devices/IotHubs/{name}/providers/Microsoft.Insights/"
                           f"metrics/{metric}")
            entry["name"] = {"value": metric, "localizedValue": NAMES[metric][0]}
            entry["displayDescription"] = NAMES[metric][1]
            if metric in self.metric_errors:
                code, message = self.metric_errors[metric]
                entry.update(timeseries=[], errorCode=code, errorMessage=message)
            else:
                entry["timeseries"][0]["data"] = self._points(series[metric], start, end,
                                                              aggregations)
            body["value"].append(entry)
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _points(self, minutes: Minutes, start: datetime, end: datetime,
                aggregations: list[str]) -> list[dict[str, Any]]:
        points = []
        at = start
        while at < end:
            point: dict[str, Any] = {"timeStamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
            value = minutes.get(at)
            received = min(1.0, max(0.0, (self.clock.now() - at) / (MINUTE + self.late)))
            if value is not None and received > 0:
                if "total" in aggregations:
                    point["total"] = value * received
                if "average" in aggregations and received >= 1:
                    point["average"] = value
            points.append(point)
            at += MINUTE
        return points


def serve_both(rsps: responses.RequestsMock, metrics: ArmMetrics,
               other: Callable[[requests.PreparedRequest], Answer]) -> None:
    """One route for the cloud: metrics paths to ``metrics``, every other to ``other`` (an
    ``ArmEmulator(None, clock).answer``)."""
    def route(request: requests.PreparedRequest) -> Answer:
        path = unquote(urlparse(request.url or "").path).replace("//", "/")
        return (metrics.answer if METRICS_PATH.fullmatch(path) else other)(request)
    for method in (responses.GET, responses.POST):
        rsps.add_callback(method, re.compile(re.escape(metrics.base_url) + r"/.*"),
                          callback=route, content_type="application/json")


def _key(ref: HubRef) -> tuple[str, str, str]:
    return ref.subscription_id.lower(), ref.resource_group.lower(), ref.name.lower()


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(
        {"error": {"code": code, "message": message}})
