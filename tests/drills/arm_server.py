"""The ARM emulator of ``tests/integration/hubs`` over real HTTP, for a bot in another process.

It lives in the test process, so Azure's state (a hub failing over, its operation) outlives the
bot when the bot is killed. Requests arrive as the SDK addressed them to
``https://management.azure.com`` (see ``bot_process.py``) and are answered by the same
:class:`ArmEmulator` the gateway tests use. The drill can:

- **hold** the next answer to a route: Azure acts on the request (a POSTed failover starts)
  but the answer waits until :meth:`Hold.release`, so the bot can be killed in that window;
- **finish** an operation when it says so (the emulator's clock is a FakeClock);
- count failover POSTs per hub, and how often each route was served;
- be **slow to accept** the next failover POST (Azure acts on it only when it answers);
- be **unavailable** (503, ARM's error body) to failover POSTs, or to everything, for a while;
- serve a fake **Azure AD** (``/aad/…``: OpenID configuration and the v2.0 token endpoint, as
  ``login.microsoftonline.com`` answers a client-secret credential) whose token endpoint can
  answer 500 for a while. Its tokens expire at once, so every ARM call fetches a new one;
- serve what the bot asks after a move, routed by path as ``verification_world`` does:
  Azure Monitor's **metrics** (``_arm_metrics.ArmMetrics``, route ``metrics``) and the
  hub's **consumers** (``_arm_consumers.ArmConsumers``: a Function app's ``restart``, a
  Stream Analytics job's ``stop``, ``start`` and ``job_operation``). Metrics minutes are on
  the real clock, the bot's: a minute is in once it has ended.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import requests

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.verification import MINUTE, floor_minute

_HUB_TESTS = str(Path(__file__).resolve().parents[1] / "integration" / "hubs")
if _HUB_TESTS not in sys.path:  # the emulator imports its neighbours as pytest puts them
    sys.path.insert(0, _HUB_TESTS)
from _arm_consumers import ArmConsumers  # noqa: E402
from _arm_emulator import PUBLIC_ARM, ArmEmulator  # noqa: E402
from _arm_metrics import METRICS_PATH, ArmMetrics  # noqa: E402
from _azure_fakes import SUBSCRIPTION  # noqa: E402

__all__ = ["PUBLIC_ARM", "SUBSCRIPTION", "ArmServer", "Hold"]

_FAILOVER = re.compile(r"/IotHubs/([^/?]+)/failover", re.IGNORECASE)
_CONSUMER_PATH = re.compile(r"/subscriptions/[^/]+/(?:resourcegroups/[^/]+/)?providers/"
                            r"Microsoft\.(?:Web|StreamAnalytics)/.*", re.IGNORECASE)
_CONSUMER_ROUTES = {"operation": "job_operation"}  # the hub emulator has an "operation" route
HOLD_TIMEOUT = 60.0  # seconds; a hold never outlives a drill
AAD_PREFIX = "/aad"  # where the fake Azure AD answers (see bot_process.py)
_AAD_TOKEN = re.compile(r"/aad/([^/]+)/oauth2/v2\.0/token")
_AAD_CONFIG = re.compile(r"/aad/([^/]+)/v2\.0/\.well-known/openid-configuration")
_UNAVAILABLE = {"error": {"code": "ServiceUnavailable",
                          "message": "The service is temporarily unavailable. Please try again "
                                     "later."}}
Answer = tuple[int, dict[str, str], Any, "Hold | None"]


class SlowAccept:
    """The next failover POST: Azure answers (and only then acts on it) ``seconds`` after it
    arrived. ``before_answer`` runs just before, on the server's thread."""

    def __init__(self, seconds: float, before_answer: Callable[[], None] | None) -> None:
        self.seconds = seconds
        self.before_answer = before_answer
        self.arrived = threading.Event()
        self.answered_at: float | None = None  # time.monotonic()

    def wait_arrived(self, timeout: float) -> None:
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no failover POST reached the fake ARM in {timeout}s")


class Hold:
    """One request Azure has acted on, whose answer is not sent until :meth:`release`."""

    def __init__(self, route: str, resource: str | None = None) -> None:
        self.route = route
        self.resource = resource  # only a request on this resource (its name in the path)
        self._arrived = threading.Event()
        self._released = threading.Event()

    def wait_arrived(self, timeout: float) -> None:
        if not self._arrived.wait(timeout):
            raise AssertionError(f"no {self.route} request reached the fake ARM in {timeout}s")

    def release(self) -> None:
        self._released.set()

    def holds(self, served: set[str], path: str) -> bool:
        return self.route in served and (
            self.resource is None or f"/{self.resource.lower()}/" in path.lower() + "/")

    def _keep_waiting(self) -> None:
        """On the server's thread: say it arrived, then wait (bounded) to be released."""
        self._arrived.set()
        self._released.wait(HOLD_TIMEOUT)


class ArmServer:
    """``with ArmServer() as arm:`` the bot process talks to ``arm.url``."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.emulator = ArmEmulator(None, self.clock)
        # The bot's real clock: its minutes settle as the bot's time passes.
        self.metrics = ArmMetrics(SystemClock())
        self.consumers = ArmConsumers(None, self.clock)
        self._served: Counter[str] = Counter()  # metrics and consumers' routes
        self._lock = threading.Lock()  # the emulator is not thread-safe
        self._holds: list[Hold] = []
        self._failover_posts: Counter[str] = Counter()
        self._failover_attempts: Counter[str] = Counter()
        self._failover_taken_at: dict[str, list[datetime]] = {}  # real time, as the bot's
        self._slow: list[SlowAccept] = []
        self._unavailable_until = 0.0  # time.monotonic()
        self._unavailable_all = False
        self._unavailable_retry_after: int | None = None
        self._tokens_fail_until = 0.0
        self.token_answers: Counter[int] = Counter()  # by HTTP status
        self._server: _Server | None = None

    # ---- the drill's controls ------------------------------------------------------------

    def add_hub(self, name: str, home: str, secondary: str, devices: int = 0, *,
                tags: dict[str, str] | None = None) -> None:
        with self._lock:
            self.emulator.add_hub(name, home, secondary, devices, tags=tags)

    def tag_hub(self, hub: str, tags: dict[str, str]) -> None:
        with self._lock:
            self.emulator.hub(hub).tags.update(tags)

    def steady_metrics(self, hub: str, *, devices: float, telemetry: float,
                       before: timedelta = timedelta(hours=2),
                       after: timedelta = timedelta(hours=1)) -> None:
        """Azure Monitor sees ``devices`` connected and ``telemetry`` messages a minute, every
        minute from ``before`` real now until ``after`` it."""
        now = floor_minute(datetime.now(UTC))
        minutes = [now - before + MINUTE * i for i in range((before + after) // MINUTE)]
        with self._lock:
            self.metrics.hub(self.emulator.hub(hub).ref, devices=dict.fromkeys(minutes, devices),
                             telemetry=dict.fromkeys(minutes, telemetry))

    def add_function_app(self, name: str) -> None:
        with self._lock:
            self.consumers.add_function_app(name)

    def restarts(self, site: str) -> int:
        """Restarts of the Function app ``site`` that Azure took."""
        with self._lock:
            return self.consumers.sites[site]

    def outside_failover(self, hub: str, caller: str, ago: float = 0.0) -> None:
        """Someone fails ``hub`` over in the portal ``ago`` seconds ago (the Activity Log,
        ``GET …/Microsoft.Insights/eventtypes/management/values``, records it)."""
        with self._lock:
            self.emulator.outside_failover(hub, caller=caller, ago=timedelta(seconds=ago))

    def hold_next(self, route: str, *, resource: str | None = None) -> Hold:
        """Hold the answer to the next ``route`` request (``failover``, ``operation``,
        ``get``…, as the emulator names its routes; ``metrics``, ``restart``…), or the next
        one on ``resource`` (a name in its path)."""
        hold = Hold(route, resource)
        with self._lock:
            self._holds.append(hold)
        return hold

    def finish_operation(self, hub: str) -> None:
        """The hub's running failover ends now: the next request sees it succeeded."""
        with self._lock:
            operation = self.emulator.hub(hub).operation
            assert operation is not None, f"{hub} has no operation running"
            operation.ends_at = self.clock.now()

    def finish_running_operations(self) -> list[str]:
        """Every failover running now ends now; returns the hubs whose did."""
        with self._lock:
            running = [h for h in self.emulator.hubs if h.operation is not None]
            for hub in running:
                assert hub.operation is not None
                hub.operation.ends_at = self.clock.now()
            return [h.name for h in running]

    def hub_state(self, hub: str) -> str:
        with self._lock:
            return self.emulator.hub(hub).state

    def active_region(self, hub: str) -> str:
        with self._lock:
            return self.emulator.hub(hub).active

    def failover_posts(self, hub: str) -> int:
        """Failover POSTs Azure took (answered by the emulator, not refused as unavailable)."""
        with self._lock:
            return self._failover_posts[hub.lower()]

    def failover_times(self, hub: str) -> list[datetime]:
        """When Azure took each failover POST (the real clock, the bot's)."""
        with self._lock:
            return list(self._failover_taken_at.get(hub.lower(), []))

    def failover_attempts(self, hub: str) -> int:
        """Every failover POST that reached the fake, whatever it was answered."""
        with self._lock:
            return self._failover_attempts[hub.lower()]

    def accept_next_failover_slowly(self, seconds: float, *,
                                    before_answer: Callable[[], None] | None = None
                                    ) -> SlowAccept:
        slow = SlowAccept(seconds, before_answer)
        with self._lock:
            self._slow.append(slow)
        return slow

    def unavailable_for(self, seconds: float, *, everything: bool = False,
                        retry_after: int | None = None) -> None:
        """503 to every failover POST (or to every ARM request) for ``seconds`` from now."""
        with self._lock:
            self._unavailable_until = time.monotonic() + seconds
            self._unavailable_all = everything
            self._unavailable_retry_after = retry_after

    def token_errors_for(self, seconds: float) -> None:
        """The fake Azure AD's token endpoint answers 500 for ``seconds`` from now."""
        with self._lock:
            self._tokens_fail_until = time.monotonic() + seconds

    def served(self, route: str) -> int:
        with self._lock:
            return self.emulator.requests[route] + self._served[route]

    # ---- serving -------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes | None) -> Answer:
        if path.startswith(AAD_PREFIX + "/"):
            return self._aad(method, path)
        posted = _FAILOVER.search(path) if method == "POST" else None
        with self._lock:
            if posted:
                self._failover_attempts[posted.group(1).lower()] += 1
            if time.monotonic() < self._unavailable_until and (posted
                                                               or self._unavailable_all):
                wait = self._unavailable_retry_after
                return 503, {"Retry-After": str(wait)} if wait else {}, _UNAVAILABLE, None
            slow = self._slow.pop(0) if posted and self._slow else None
        if slow is not None:  # Azure thinks it over: the hub stays as it is meanwhile
            slow.arrived.set()
            time.sleep(slow.seconds)  # the fake Azure's own pace, on the server's thread
            if slow.before_answer is not None:
                slow.before_answer()
            slow.answered_at = time.monotonic()
        return self._arm(method, path, headers, body)

    def _aad(self, method: str, path: str) -> Answer:
        host = "https://login.microsoftonline.com"
        config = _AAD_CONFIG.fullmatch(path.split("?")[0])
        if method == "GET" and config:
            tenant = config.group(1)
            return 200, {}, {
                "token_endpoint": f"{host}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{host}/{tenant}/oauth2/v2.0/authorize",
                "issuer": f"{host}/{tenant}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }, None
        if method == "POST" and _AAD_TOKEN.fullmatch(path.split("?")[0]):
            with self._lock:
                failing = time.monotonic() < self._tokens_fail_until
                status = 500 if failing else 200
                self.token_answers[status] += 1
                issued = self.token_answers[200]
            if failing:
                return 500, {}, {"error": "temporarily_unavailable",
                                 "error_description": "AADSTS90033: A transient error has "
                                                      "occurred. Please try again."}, None
            # expires_in 1: every ARM call asks for a new token (MSAL keeps none this short).
            return 200, {}, {"token_type": "Bearer", "expires_in": 1, "ext_expires_in": 1,
                             "access_token": f"drill-aad-token-{issued}"}, None
        return 404, {}, {"error": "invalid_request",
                         "error_description": f"no fake AAD route {method} {path}"}, None

    def _arm(self, method: str, path: str, headers: dict[str, str],
             body: bytes | None) -> Answer:
        request = requests.Request(method, PUBLIC_ARM + path, headers=headers,
                                   data=body).prepare()
        where = unquote(urlparse(path).path).replace("//", "/")
        with self._lock:
            if METRICS_PATH.fullmatch(where):
                status, answer_headers, payload = self.metrics.answer(request)
                served = {"metrics"}
                self._served.update(served)
            elif _CONSUMER_PATH.fullmatch(where):
                sent = len(self.consumers.sent)
                status, answer_headers, payload = self.consumers.answer(request)
                served = {_CONSUMER_ROUTES.get(route, route)
                          for route, _, _ in self.consumers.sent[sent:]}
                self._served.update(served)
            else:
                before = Counter(self.emulator.requests)
                status, answer_headers, payload = self.emulator.answer(request)
                served = {route for route, n in self.emulator.requests.items()
                          if n > before[route]}
                posted = _FAILOVER.search(path)
                if method == "POST" and posted:
                    self._failover_posts[posted.group(1).lower()] += 1
                    self._failover_taken_at.setdefault(posted.group(1).lower(), []).append(
                        datetime.now(UTC))
            hold = next((h for h in self._holds if h.holds(served, where)), None)
            if hold is not None:
                self._holds.remove(hold)
        return status, answer_headers, payload, hold

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake ARM is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ArmServer:
        self._server = _Server(self)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-arm",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            for hold in self._holds:
                hold.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ArmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as ARM: the SDK reuses its connections

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        status, headers, payload, hold = self.server.arm.answer(
            self.command, self.path, dict(self.headers.items()), body)
        if hold is not None:
            hold._keep_waiting()
        if status == 0:  # the emulator lost this answer: the connection just closes
            self.close_connection = True
            return
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        data = payload.encode() if isinstance(payload, str) else bytes(payload or b"")
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the bot that asked was killed while its answer was held
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the drill counts
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, arm: ArmServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arm = arm
