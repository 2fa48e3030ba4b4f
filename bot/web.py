"""The HTTP face: ``POST /slack/events`` (into the Bolt app), ``GET /healthz`` (alive),
``GET /readyz`` (ready: the database takes writes, the work process runs), ``GET /metrics``.

Bolt's App is synchronous; each Slack request is dispatched on Starlette's thread pool so
one slow listener never holds up the event loop (Bolt acks from its own executor).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.slack.shapes import bolt_readable, shape_error
from bot.telemetry import bind_request_id

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest

log = logging.getLogger(__name__)

MetricsRenderer = Callable[[str | None], tuple[bytes, str]]
MAX_BODY = 1_000_000  # Slack payloads are a few kB; refuse anything absurd before parsing
PROBE_MAX_AGE_S = 1.0  # probes and monitors share one database check a second
PROBE_WAIT_S = 2.0  # /healthz must answer within a liveness probe's timeout regardless
WORK_PROCESS_UP = "running"
UNKNOWN = "unknown"  # the database's state while nothing can probe it
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
        self._state, self._at = UNKNOWN, -PROBE_MAX_AGE_S

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
        if state != self._state and state != UNKNOWN:  # a line on each change, not each probe
            level = logging.INFO if state == "writable" else logging.WARNING
            log.log(level, "database is %s%s", state, f": {detail}" if detail else "")
        self._state, self._at = state, time.monotonic()
        return state


def create_web_app(bolt_app: App, *, signing_secret: str,
                   database_health: Callable[[], DatabaseHealth],
                   metrics_renderer: MetricsRenderer | None = None,
                   own_metrics: MetricsRenderer | None = None,
                   work_process_state: Callable[[], str] | None = None,
                   answering: Callable[[], AbstractContextManager[object]] | None = None,
                   ) -> Starlette:
    """``signing_secret`` checks each Slack request before anything of it is read (empty:
    every one is refused, as in Socket Mode, which needs none). ``database_health()``
    probes whether the database takes writes; ``work_process_state()`` is the work process's
    "starting", "running", "restarting" or "failed".
    ``metrics_renderer(accept_header)`` returns the body and content type of /metrics, and
    ``own_metrics`` this process's own, served while that one cannot answer (the work
    process is not up yet). ``answering()`` is entered while a Slack request is being
    answered (the work process holds new work back meanwhile)."""
    database = _DatabaseCheck(database_health)

    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    unsigned = _RefusalTally("with a missing, stale or invalid signature")

    async def slack_events(request: Request) -> Response:
        body = await _read_limited(request)
        if isinstance(body, Response):
            return body
        # The signature first: nothing of an unsigned body is parsed, logged or kept.
        text = _signed_text(verifier, body, request.headers)
        if text is None:
            unsigned.count()
            return JSONResponse(REFUSED, status_code=401)
        headers: dict[str, str | Sequence[str]] = {k: [v] for k, v in request.headers.items()}
        readable = bolt_readable(text)
        if readable is not None and verifier is not None:  # signed anew: Bolt checks again
            text, headers["x-slack-signature"] = readable, [verifier.generate_signature(
                timestamp=request.headers["x-slack-request-timestamp"], body=readable) or ""]
        try:
            bolt_request = BoltRequest(body=text, query=request.url.query, headers=headers)
        except Exception:  # signed, yet not JSON (or nested past Python's recursion limit)
            return _malformed(len(body), "it does not parse")
        problem = shape_error(bolt_request.body)
        if problem:
            return _malformed(len(body), problem)
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
        # "unknown": the work process, which probes it, is down (said below), not the database.
        problems = [] if state in ("writable", UNKNOWN) else [f"the database is {state}"]
        if work_process_state is not None:
            work_process = work_process_state()
            health["work_process"] = work_process
            if work_process != WORK_PROCESS_UP:
                problems.append(f"the work process is {work_process}")
        return health, problems

    async def healthz(request: Request) -> Response:
        health, problems = await status()
        # Always 200 while the process serves: a database outage must not get pods restarted
        # (and the front restarts its own work process); the body tells monitors what is wrong.
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


def _malformed(size: int, problem: str = "a malformed length") -> Response:
    """A signed request the bot cannot read: one line, no traceback, no body."""
    log.warning("refused a malformed Slack request (%d bytes: %s; its body is not logged)",
                size, problem)
    return JSONResponse({"error": "malformed request"}, status_code=400)


def _signed_text(verifier: SignatureVerifier | None, body: bytes,
                 headers: Mapping[str, str]) -> str | None:
    """The body as text when it carries a valid, fresh signature (slack_sdk's check: HMAC of
    ``v0:{timestamp}:{body}``, 5 minutes either way); else None."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if verifier is None or not (timestamp.isascii() and timestamp.isdigit()
                                and signature.isascii() and len(timestamp) < 16):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if verifier.is_valid(text, timestamp, signature) else None


class _RefusalTally:
    """Refusals anyone on the network can cause: logged at the first, then at the 10th,
    100th, 1000th…, so a flood of them adds a line per power of ten, not a line each."""

    def __init__(self, what: str) -> None:
        self._what, self._count = what, 0

    def count(self) -> None:
        self._count += 1
        if str(self._count).rstrip("0") == "1":
            log.info("refused %d Slack request%s %s since start-up (bodies are not logged; "
                     "the next line at %d)", self._count, "" if self._count == 1 else "s",
                     self._what, 10 if self._count == 1 else self._count * 10)


def run_http(app: Starlette, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve until interrupted (uvicorn handles SIGTERM gracefully)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True)


def run_socket_mode(bolt_app: App, app_token: str) -> None:
    """Connect out to Slack over a WebSocket: no public URL, no request signatures."""
    socket_mode_handler(bolt_app, app_token).start()


def socket_mode_handler(bolt_app: App, app_token: str) -> BaseSocketModeHandler:
    """Bolt's Socket Mode handler, with the shape check of ``/slack/events``: a payload the
    bot cannot read is acked (Slack would send it again) and logged in one line."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.response import SocketModeResponse

    class CheckedSocketModeHandler(SocketModeHandler):
        def handle(self, client: Any, req: SocketModeRequest) -> None:
            problem = shape_error(req.payload)
            if problem is None:
                super().handle(client, req)
                return
            log.warning("refused a malformed Slack %s over Socket Mode (%s; its payload is "
                        "not logged)", req.type, problem)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    return CheckedSocketModeHandler(bolt_app, app_token)
