"""The HTTP face: ``POST /slack/events`` (into the Bolt app), ``GET /healthz``, ``GET /metrics``.

Bolt's App is synchronous; each Slack request is dispatched on Starlette's thread pool so
one slow listener never holds up the event loop (Bolt acks from its own executor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from slack_bolt import App, BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.telemetry import bind_request_id

log = logging.getLogger(__name__)

MetricsRenderer = Callable[[str | None], tuple[bytes, str]]
MAX_BODY = 1_000_000  # Slack payloads are a few kB; refuse anything absurd before parsing


def create_web_app(bolt_app: App, *, database_ok: Callable[[], bool],
                   metrics_renderer: MetricsRenderer | None = None,
                   worker_ok: Callable[[], bool] | None = None,
                   answering: Callable[[], AbstractContextManager[object]] | None = None,
                   ) -> Starlette:
    """``database_ok`` answers whether the audit database is reachable and ``worker_ok``
    whether the worker process is running (for /healthz); ``metrics_renderer(accept_header)``
    returns the body and content type of /metrics. ``answering()`` is entered while a Slack
    request is being answered (the work process holds new work back meanwhile)."""

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response("payload too large", status_code=413)
        bolt_request = BoltRequest(body=body.decode("utf-8", errors="replace"),
                                   query=request.url.query,
                                   headers={k: [v] for k, v in request.headers.items()})
        with bind_request_id(), answering() if answering else nullcontext():
            # The thread pool copies the context, so Bolt's logs carry the request id.
            bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        response = Response(bolt_response.body, status_code=bolt_response.status)
        for key, values in bolt_response.headers.items():
            for value in values:
                if key.lower() != "content-length":
                    response.headers.append(key, value)
        return response

    async def healthz(request: Request) -> Response:
        try:
            reachable = await run_in_threadpool(database_ok)
        except Exception:
            log.exception("health check of the database failed")
            reachable = False
        working = worker_ok() if worker_ok is not None else True
        health = {"status": "ok" if reachable and working else "degraded",
                  "database": "reachable" if reachable else "unreachable"}
        if worker_ok is not None:
            health["worker"] = "running" if working else "restarting"
        # Always 200 while the process serves: a database outage must not get pods restarted
        # (and the front restarts its own worker); the body tells monitors what is wrong.
        return JSONResponse(health)

    async def metrics(request: Request) -> Response:
        if metrics_renderer is None:
            return Response("metrics are not enabled\n", status_code=404)
        try:
            body, content_type = await run_in_threadpool(metrics_renderer,
                                                         request.headers.get("accept"))
        except Exception as exc:  # e.g. the work process is restarting
            log.warning("metrics unavailable: %s", exc)
            return Response("metrics are unavailable right now\n", status_code=503)
        return Response(body, media_type=content_type)

    return Starlette(routes=[
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])


def run_http(app: Starlette, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve until interrupted (uvicorn handles SIGTERM gracefully)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True)


def run_socket_mode(bolt_app: App, app_token: str) -> None:
    """Connect out to Slack over a WebSocket: no public URL, no request signatures."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    SocketModeHandler(bolt_app, app_token).start()
