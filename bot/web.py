"""The HTTP face: ``POST /slack/events`` (into the Bolt app), ``GET /healthz`` (alive),
``GET /readyz`` (ready: the database takes writes, the work process runs), ``GET /metrics``.

Bolt's App is synchronous; each Slack request is dispatched on Starlette's thread pool so
one slow listener never holds up the event loop (Bolt acks from its own executor).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from slack_bolt import App, BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.telemetry import bind_request_id

log = logging.getLogger(__name__)

MetricsRenderer = Callable[[str | None], tuple[bytes, str]]
MAX_BODY = 1_000_000  # Slack payloads are a few kB; refuse anything absurd before parsing
PROBE_MAX_AGE_S = 1.0  # probes and monitors share one database check a second
PROBE_WAIT_S = 2.0  # /healthz must answer within a liveness probe's timeout regardless
WORKER_UP = "running"
REFUSED = {"error": "invalid request"}  # what Bolt answers to a bad signature


class DatabaseHealth(Protocol):
    @property
    def state(self) -> str: ...  # "writable", "read-only", "unreachable", "replaced"

    @property
    def detail(self) -> str: ...


class _DatabaseCheck:
    """The database's state, probed at most once a second however many ask, and never
    keeping an asker longer than ``PROBE_WAIT_S`` (a hung database must not fail liveness)."""

    def __init__(self, probe: Callable[[], DatabaseHealth]) -> None:
        self._probe = probe
        self._task: asyncio.Task[str] | None = None
        self._state, self._at = "unknown", -PROBE_MAX_AGE_S

    async def state(self) -> str:
        if time.monotonic() - self._at < PROBE_MAX_AGE_S:
            return self._state
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(run_in_threadpool(self._run))
        try:
            return await asyncio.wait_for(asyncio.shield(self._task), PROBE_WAIT_S)
        except TimeoutError:
            return "unresponsive"

    def _run(self) -> str:
        try:
            health = self._probe()
            state, detail = health.state, health.detail
        except Exception as exc:
            state, detail = "unreachable", f"{type(exc).__name__} in the health check"
        if state != self._state:  # a line on each change, not on each probe
            level = logging.INFO if state == "writable" else logging.WARNING
            log.log(level, "database is %s%s", state, f": {detail}" if detail else "")
        self._state, self._at = state, time.monotonic()
        return state


def create_web_app(bolt_app: App, *, database_health: Callable[[], DatabaseHealth],
                   metrics_renderer: MetricsRenderer | None = None,
                   own_metrics: MetricsRenderer | None = None,
                   worker_state: Callable[[], str] | None = None,
                   answering: Callable[[], AbstractContextManager[object]] | None = None,
                   ) -> Starlette:
    """``database_health()`` probes whether the database takes writes; ``worker_state()`` is
    the work process's "starting", "running", "restarting" or "failed".
    ``metrics_renderer(accept_header)`` returns the body and content type of /metrics, and
    ``own_metrics`` this process's own, served while that one cannot answer (the work
    process is not up yet). ``answering()`` is entered while a Slack request is being
    answered (the work process holds new work back meanwhile)."""
    database = _DatabaseCheck(database_health)

    async def slack_events(request: Request) -> Response:
        body = await _read_limited(request)
        if isinstance(body, Response):
            return body
        timestamp = request.headers.get("x-slack-request-timestamp")
        if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit()):
            log.info("refused a Slack request with a malformed timestamp")
            return JSONResponse(REFUSED, status_code=401)
        try:
            bolt_request = BoltRequest(body=body.decode("utf-8", errors="replace"),
                                       query=request.url.query,
                                       headers={k: [v] for k, v in request.headers.items()})
        except (ValueError, AttributeError, TypeError, KeyError):  # payload=… not a JSON object
            return _malformed(len(body))
        if not isinstance(bolt_request.body, dict):  # payload=[…] or a bare JSON value
            return _malformed(len(body))
        with bind_request_id(), answering() if answering else nullcontext():
            # The thread pool copies the context, so Bolt's logs carry the request id.
            bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        response = Response(bolt_response.body, status_code=bolt_response.status)
        for key, values in bolt_response.headers.items():
            for value in values:
                if key.lower() != "content-length":
                    response.headers.append(key, value)
        return response

    async def status() -> tuple[dict[str, str], list[str]]:
        state = await database.state()
        health = {"database": state}
        problems = [] if state == "writable" else [f"the database is {state}"]
        if worker_state is not None:
            worker = worker_state()
            health["worker"] = worker
            if worker != WORKER_UP:
                problems.append(f"the work process is {worker}")
        return health, problems

    async def healthz(request: Request) -> Response:
        health, problems = await status()
        # Always 200 while the process serves: a database outage must not get pods restarted
        # (and the front restarts its own worker); the body tells monitors what is wrong.
        return JSONResponse({"status": "degraded" if problems else "ok", **health})

    async def readyz(request: Request) -> Response:
        health, problems = await status()
        if problems:
            return JSONResponse({"status": "not ready", **health, "problems": problems},
                                status_code=503)
        return JSONResponse({"status": "ready", **health})

    async def metrics(request: Request) -> Response:
        accept = request.headers.get("accept")
        renderers = [r for r in (metrics_renderer, own_metrics) if r is not None]
        if not renderers:
            return Response("metrics are not enabled\n", status_code=404)
        for renderer in renderers:
            try:
                body, content_type = await run_in_threadpool(renderer, accept)
                return Response(body, media_type=content_type)
            except Exception as exc:  # the work process is starting or restarting
                log.debug("metrics from %s unavailable: %s", renderer, exc)
        log.warning("metrics unavailable")
        return Response("metrics are unavailable right now\n", status_code=503)

    return Starlette(routes=[
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])


async def _read_limited(request: Request) -> bytes | Response:
    """The body, read no further than ``MAX_BODY``: a declared length over it is refused
    before a byte is read, a chunked or lying one as soon as the count passes it. Nothing of
    an unsigned body is ever held beyond that, or logged."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            return _malformed(0)
        if int(declared) > MAX_BODY:
            return _too_large(int(declared))
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _too_large(len(body))
    except ClientDisconnect:
        return Response(status_code=400)
    return bytes(body)


def _too_large(size: int) -> Response:
    log.warning("refused a Slack request of %d bytes or more (the limit is %d)", size, MAX_BODY)
    # Close the connection: the rest of the body is not worth reading.
    return Response("payload too large\n", status_code=413, headers={"connection": "close"})


def _malformed(size: int) -> Response:
    log.info("refused a malformed Slack request (%d bytes; its body is not logged)", size)
    return JSONResponse({"error": "malformed request"}, status_code=400)


def run_http(app: Starlette, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve until interrupted (uvicorn handles SIGTERM gracefully)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True)


def run_socket_mode(bolt_app: App, app_token: str) -> None:
    """Connect out to Slack over a WebSocket: no public URL, no request signatures."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    SocketModeHandler(bolt_app, app_token).start()
