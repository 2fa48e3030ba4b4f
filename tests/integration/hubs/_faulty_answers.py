"""Answers ARM should not give, for :meth:`ArmEmulator.tamper`: a ``nextLink`` that never
ends, fields of the wrong type, an answer slower than the bot waits for.

A slow answer is emulated on the FakeClock as a socket would behave: the request carries the
timeouts the SDK was given (``requests``' ``timeout=(connect, read)``); if the read timeout is
shorter than the answer's delay, the clock moves on by the timeout and ``requests`` raises
``ReadTimeout``, else the clock moves on by the delay and the answer arrives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import requests
from _arm_emulator import Answer, Tamper

from bot.domain.clock import FakeClock


def same_page_again(request: requests.PreparedRequest, answer: Answer) -> Answer:
    """Every page's ``nextLink`` is the page itself: the endless pager of issue #24."""
    body = json.loads(answer[2])
    body["nextLink"] = request.url
    return 200, {}, json.dumps(body)


def one_more_page(request: requests.PreparedRequest, answer: Answer) -> Answer:
    """Every page links to a next one, each a new URL (``$skiptoken`` + 1): never repeating."""
    url = urlparse(request.url or "")
    query = parse_qs(url.query, keep_blank_values=True)
    skip = int(query.get("$skiptoken", ["0"])[0])
    query["$skiptoken"] = [str(skip + 1)]
    body = json.loads(answer[2])
    body["nextLink"] = urlunparse(url._replace(query=urlencode(query, doseq=True)))
    return 200, {}, json.dumps(body)


def first_item(change: Callable[[dict[str, Any]], None]) -> Tamper:
    """The first item of every page (``value[0]``) changed by ``change``."""
    def tamper(request: requests.PreparedRequest, answer: Answer) -> Answer:
        body = json.loads(answer[2])
        if body.get("value"):
            change(body["value"][0])
        return answer[0], answer[1], json.dumps(body)
    return tamper


def body(text: str) -> Tamper:
    """Every answer a 200 whose body is ``text``."""
    return lambda request, answer: (200, {"Content-Type": "application/json"}, text)


class Slow:
    """Every answer takes ``seconds`` on ``clock``; ``timeouts`` holds each request's
    (connect, read) timeouts, as the SDK sent them."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.timeouts: list[tuple[float, float]] = []

    def __call__(self, request: requests.PreparedRequest, answer: Answer) -> Answer:
        connect, read = request.req_kwargs["timeout"]  # type: ignore[attr-defined]
        self.timeouts.append((connect, read))
        if read < self.seconds:
            self.clock.advance(read)
            return 0, {}, requests.exceptions.ReadTimeout("read timed out")
        self.clock.advance(self.seconds)
        return answer
