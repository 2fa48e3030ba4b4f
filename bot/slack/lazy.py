"""Lazy halves of listeners, handed from the process that acks to the one that works.

In one Python process the acks and the work after them share the GIL: under a burst of
commands (an outage brings many at once) the work slows every later ack towards Slack's
3-second limit. So the HTTP front only verifies, acks and hands each lazy half over as a
:class:`LazyJob`; the work process dispatches it through its own Bolt app, which runs
just that half (Bolt's lazy-only request, as its FaaS adapters use).

This module is the one place that touches Bolt's internals (``BOLT_PRIVATE_NAMES``, checked
by ``tests/integration/slack/test_bolt_contract.py``; ``slack-bolt`` is bounded in pyproject to the
minor versions tested). Bolt's public hook, ``listener_runner.lazy_listener_runner``, is
called only after Bolt deep-copies the whole request (context, client and all) for every
lazy half: a fifth of the front's CPU under load, for data a job does not need. So the
front's runner overrides the step before that copy (``_start_lazy_function``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.listener import Listener
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.util.utils import get_name_for_callable

from bot.telemetry import bind_request_id, current_request_id

log = logging.getLogger(__name__)

D = TypeVar("D")


class Half(StrEnum):
    """Every lazy half, by name. Bolt finds the half a lazy-only request asks for by the name
    of its function (``lazy_half`` sets it), and a stored job carries only this name, so the
    work process picks its lane from it (``URGENT``). Each must be some listener's half
    (``bot.slack.listeners`` refuses to import otherwise)."""

    OPEN_DIALOG = "open_dialog"  # /failover, /failback: the dialog
    ANSWER = "answer"  # every command: what reads Azure or the database
    SUBMIT = "submit"  # the dialog's submission
    DECIDE = "decide"  # Approve, Reject, Stop the rest, Retry failed
    HOME = "home"  # app_home_opened: read the fleet, views.publish the Home tab


OPEN_DIALOG, ANSWER, SUBMIT = Half.OPEN_DIALOG, Half.ANSWER, Half.SUBMIT
DECIDE, HOME = Half.DECIDE, Half.HOME
LAZY_HALVES = frozenset(Half)
# Halves that must start at once: views.open needs a trigger id, which lives 3 s.
URGENT = frozenset({Half.OPEN_DIALOG})
# Set by an ack in Bolt's context: the halves this request needs (a status needs no dialog);
# the front hands over only those, and refuses a name that is not one of the listener's own
# (``UnknownHalf``). Absent: every half of the listener.
WANTED_HALVES = "failover_bot_wanted_halves"
# Bolt's private names this module relies on (tests/integration/slack/test_bolt_contract.py).
BOLT_PRIVATE_NAMES = (("App", "_listener_runner"), ("App", "_listeners"),
                      ("ThreadListenerRunner", "_start_lazy_function"))
TRIGGER_LIFE_S = 3.0
# What the work process's Bolt needs of the headers (to parse the body; Events API retries):
# the front verified the signature, and the job is stored, so the rest is left behind.
KEPT_HEADERS = frozenset({"content-type", "x-slack-retry-num", "x-slack-retry-reason"})


@dataclass(frozen=True)
class LazyJob:
    """One lazy half of one Slack request: plain data, so it crosses a process boundary."""

    function: str
    body: str | dict[str, Any]  # the raw body over HTTP, the parsed one in Socket Mode
    headers: dict[str, list[str]] = field(default_factory=dict)
    mode: str = "http"
    request_id: str | None = None
    id: str | None = None  # set once stored (bot.job_handover): it can be re-run
    acked_at: float = field(default_factory=time.time)
    attempts: int = 0

    @property
    def urgent(self) -> bool:
        return self.function in URGENT



class LazyHalfInFront(RuntimeError):
    """A lazy half was about to run in the front, which only acks and hands over."""


class UnknownHalf(RuntimeError):
    """An ack wanted (``WANTED_HALVES``) a half its listener does not have: nothing would
    run it, and the user would wait for an answer that never comes."""


def lazy_half(name: str, deps: D | None,
              build: Callable[[D], Callable[..., None]]) -> Callable[..., None]:
    """``build(deps)`` as the lazy half ``name``; without ``deps`` (the front builds no
    service), a half that refuses to run, so a hand-over that stopped working fails loudly."""
    if deps is None:
        def work(**_: Any) -> None:
            raise LazyHalfInFront(f"lazy {name} reached the front's Bolt runner")
    else:
        work = build(deps)
    work.__name__ = work.__qualname__ = str(name)  # a plain str: what a stored job carries
    return work


class _RefusingLazyRunner(LazyListenerRunner):
    """The front's lazy runner: nothing lazy runs in the front."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        raise LazyHalfInFront(f"lazy {get_name_for_callable(function)} reached the front")

    def run(self, function: Callable[..., None], request: BoltRequest) -> None:
        self.start(function, request)


class HandOverListenerRunner(ThreadListenerRunner):
    """Bolt's listener runner, except that each lazy half goes to ``send`` as a LazyJob
    (before Bolt's copy of the request), and nothing lazy can run in this process."""

    def __init__(self, runner: ThreadListenerRunner, send: Callable[[LazyJob], None],
                 halves_of: dict[Callable[..., None], frozenset[str]]) -> None:
        super().__init__(
            logger=runner.logger, process_before_response=runner.process_before_response,
            listener_error_handler=runner.listener_error_handler,
            listener_start_handler=runner.listener_start_handler,
            listener_completion_handler=runner.listener_completion_handler,
            listener_executor=runner.listener_executor,
            lazy_listener_runner=_RefusingLazyRunner(runner.logger))
        self._send = send
        self._halves_of = halves_of  # each lazy function: the names of its listener's halves

    def _start_lazy_function(self, lazy_func: Callable[..., None],
                             request: BoltRequest) -> None:
        function = get_name_for_callable(lazy_func)
        wanted = request.context.get(WANTED_HALVES)
        if wanted is not None and not wanted <= self._halves_of.get(lazy_func, frozenset()):
            raise UnknownHalf(f"an ack wanted {sorted(map(str, wanted))}; its listener's lazy "
                              f"halves are {sorted(self._halves_of.get(lazy_func, ()))}")
        if wanted is not None and function not in wanted:
            return  # it would do nothing: no job to store, no dispatch in the work process
        body = request.raw_body if request.mode == "http" else request.body
        self._send(LazyJob(function=function, body=body,
                           headers={k: list(v) for k, v in request.headers.items()
                                    if k in KEPT_HEADERS},
                           mode=request.mode, request_id=current_request_id()))


def hand_over_lazy_halves(app: App, send: Callable[[LazyJob], None]) -> None:
    """Make ``app`` send its lazy halves to ``send`` (call once its listeners are set up);
    its own lazy runner then refuses to run any (``LazyHalfInFront``)."""
    halves_of = {function: frozenset(get_name_for_callable(f) for f in listener.lazy_functions)
                 for listener in app._listeners for function in listener.lazy_functions}
    app._listener_runner = HandOverListenerRunner(app.listener_runner, send, halves_of)


@dataclass(frozen=True)
class Registered:
    """One listener as Bolt holds it (for the tests that compare the roles' apps)."""

    halves: tuple[str, ...]
    matches: Callable[[BoltRequest], bool]


def registered(app: App) -> list[Registered]:
    """``app``'s listeners, in the order Bolt tries them."""
    return [Registered(tuple(get_name_for_callable(f) for f in listener.lazy_functions),
                       partial(_matches, listener))
            for listener in app._listeners]


def _matches(listener: Listener, request: BoltRequest) -> bool:
    return listener.matches(req=request, resp=BoltResponse(status=404))


def run_job(app: App, job: LazyJob) -> None:
    """In the worker: run ``job``'s half through ``app``, under the front's request id."""
    if job.urgent and time.time() - job.acked_at > TRIGGER_LIFE_S:
        # A re-run after a crash: its trigger id has expired, so the listener is given none
        # and answers, as for any refused views.open, that the user should try again.
        log.info("lazy %s run %.0f s after its ack: its trigger id has expired",
                    job.function, time.time() - job.acked_at)
        job = replace(job, body=_without_trigger(job.body))
    headers: dict[str, str | Sequence[str]] = {
        **job.headers, "x-slack-bolt-lazy-only": ["1"],
        "x-slack-bolt-lazy-function-name": [job.function]}
    with bind_request_id(job.request_id):
        response = app.dispatch(BoltRequest(body=job.body, headers=headers, mode=job.mode))
    if response.status != 200:
        log.error("lazy %s was not run (status %d)", job.function, response.status)


def _without_trigger(body: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(body, dict):
        return {**body, "trigger_id": ""}
    return urlencode([(key, "" if key == "trigger_id" else value)
                      for key, value in parse_qsl(body, keep_blank_values=True)])
