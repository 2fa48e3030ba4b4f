"""Azure's answers, broken: each drawn :class:`Change` rewrites one ARM answer as it is sent
(the emulator's real shapes, from the REST API spec examples: a hub, a page of hubs, its
stats, an operation's status, an Activity Log page), so the bot reads it through the real
SDKs. Changes are drawn in full before the example runs (the poller reads ARM on its own
threads), as plain data that Hypothesis shrinks and prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from hypothesis import strategies as st

from tests.fuzz.arm import EDGE_HUB, HUB, SPARE_HUB, Answer, Rewrite
from tests.fuzz.mutations import Deep, dumps, odd_text, random_json

Json = Any
IDS = (HUB, EDGE_HUB, SPARE_HUB, "westeurope", "West Europe", "North Europe", "primary",
       "secondary", "Succeeded", "Running", "Failed", "Microsoft.Devices/IotHubs/failover/action")
ROUTES = ("hub", "stats", "list", "activity", "operation", "failover")
STATUSES = (200, 201, 202, 204, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503)


@dataclass(frozen=True)
class Step:
    """One change inside a JSON body: ``path`` picks a member at each level (an index into
    its sorted keys, modulo their number), ``action`` says what becomes of it."""

    path: tuple[int, ...]
    action: str  # drop, set, wrap, stringify, empty, splice
    value: Json = None

    def apply(self, body: Json) -> Json:
        parent: Json = None
        key: Any = None
        node = body
        for index in self.path:
            if not isinstance(node, dict | list) or not node:
                break
            keys = sorted(node, key=str) if isinstance(node, dict) else range(len(node))
            key = list(keys)[index % len(node)]
            parent, node = node, node[key]
        new = self._changed(node)
        if parent is None:
            return new if self.action != "drop" else None
        if self.action == "drop" and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = new
        return body

    def _changed(self, node: Json) -> Json:
        if self.action == "wrap":
            return [node]
        if self.action == "stringify":
            return dumps(node) if not isinstance(node, str) else node
        if self.action == "empty":
            return [] if isinstance(node, list) else {} if isinstance(node, dict) else ""
        if self.action == "splice" and isinstance(node, str):
            return node[: len(node) // 2] + str(self.value) + node[len(node) // 2:]
        return self.value


@dataclass(frozen=True)
class Change:
    """What becomes of one ARM answer."""

    how: str  # keep, mutate, replace, lose, endless
    steps: tuple[Step, ...] = ()
    status: int = 200
    body: Json = None  # for replace: JSON, or text when a str
    retry_after: str | None = None

    @property
    def sticky(self) -> bool:
        """Paging without end changes every later page too."""
        return self.how == "endless"

    def __call__(self, request: requests.PreparedRequest, answer: Answer) -> Answer:
        status, headers, body = answer
        if self.how == "lose":
            return 0, {}, requests.ReadTimeout("the fuzz harness lost this answer")
        if self.how == "replace":
            text = self.body if isinstance(self.body, str) else dumps(self.body)
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return self.status, headers, text
        parsed = _json(body)
        if parsed is None:
            return answer
        if self.how == "endless":  # the same page again, and again: a nextLink to itself
            if isinstance(parsed, dict):
                parsed["nextLink"] = request.url
            return status, headers, dumps(parsed)
        if self.how == "mutate":
            for step in self.steps:
                parsed = step.apply(parsed)
            return status, headers, dumps(parsed)
        return answer


def _json(body: Any) -> Json:
    if not isinstance(body, str | bytes) or not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


values = st.one_of(random_json, odd_text, st.sampled_from(IDS), st.builds(Deep, st.just(300)))
steps = st.builds(Step, path=st.lists(st.integers(0, 40), max_size=6).map(tuple),
                  action=st.sampled_from(("drop", "set", "wrap", "stringify", "empty",
                                          "splice")),
                  value=values)
error_bodies = st.one_of(
    st.builds(lambda code, message: {"error": {"code": code, "message": message}},
              st.sampled_from(("TooManyRequests", "ResourceNotFound", "IotHubNotActive",
                               "InternalServerError", "AuthorizationFailed", "")), odd_text),
    random_json, odd_text)
changes = st.one_of(
    st.just(Change("keep")),
    st.builds(Change, st.just("mutate"), st.lists(steps, min_size=1, max_size=3).map(tuple)),
    st.builds(Change, st.just("replace"), st.just(()), st.sampled_from(STATUSES),
              error_bodies, st.one_of(st.none(), st.sampled_from(
                  ("0", "5", "-1", "1e9", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "")))),
    st.just(Change("lose")),
    st.just(Change("endless")),
)


def plans(routes: tuple[str, ...] = ROUTES) -> st.SearchStrategy[dict[str, list[Change]]]:
    """For each route, the changes made to its next answers, in order (then real ones)."""
    return st.fixed_dictionaries({route: st.lists(changes, max_size=3) for route in routes})


def installed(plan: dict[str, list[Change]]) -> dict[str, list[Rewrite]]:
    return {route: list(changed) for route, changed in plan.items()}
