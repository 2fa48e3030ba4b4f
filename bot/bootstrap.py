"""The composition root: builds real adapters from settings, or takes the ones it is given."""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError, Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.limit_warnings import lenient_limit_warnings, scaled_limits
from bot.hubs.activity import ActivityLogReader, CachedActivityLog, InvalidatingGateway
from bot.hubs.gateway import IotHubGateway
from bot.hubs.metered import MeteredActivityLog, MeteredGateway
from bot.notifications import Notifier
from bot.poller import Poller
from bot.service import FailoverService
from bot.store.base import StoreUnavailable, UnitOfWork
from bot.store.health import UNREACHABLE, WRITABLE, DatabaseHealth
from bot.telemetry import Metrics, configure_logging, release_start_up_logs, render_latest

if TYPE_CHECKING:
    from bot.slack.guard import Identity
    from bot.slack.lazy import LazyJob

log = logging.getLogger(__name__)

GatewayFactory = Callable[[Settings, Clock], IotHubGateway]
MetricsRenderer = Callable[[str | None], tuple[bytes, str]]


@dataclass
class Components:
    settings: Settings
    clock: Clock
    gateway: IotHubGateway
    uow: Callable[[], UnitOfWork]
    service: FailoverService
    metrics: Metrics


def azure_gateway(settings: Settings, clock: Clock) -> IotHubGateway:
    if not settings.azure_subscription_id:
        raise ConfigError("AZURE_SUBSCRIPTION_ID: required to talk to Azure "
                          "(try `failover-bot sandbox` for a simulated fleet)")
    from azure.identity import DefaultAzureCredential

    from bot.hubs.azure import AzureIotHubGateway, authority_for

    cloud = settings.azure_cloud.value
    credential = DefaultAzureCredential(authority=authority_for(cloud))
    return AzureIotHubGateway(credential=credential,
                              subscription_ids=settings.azure_subscription_id, cloud=cloud,
                              cache_ttl=settings.bot_hub_cache_ttl, clock=clock)


def simulated_gateway(settings: Settings, clock: Clock) -> IotHubGateway:
    """The simulated fleet (a gateway factory for benchmarks and drills; no Azure needed).
    Each process that calls it has a fleet of its own."""
    from bot.hubs.simulated import SimulatedIotHubGateway

    return SimulatedIotHubGateway.default_fleet(clock)


def activity_log(gateway: IotHubGateway, clock: Clock, settings: Settings,
                 metrics: Metrics) -> CachedActivityLog | None:
    """Azure's Activity Log behind a per-hub cache, when the gateway can read it (the Azure
    gateway with its own credential and cloud, the simulated fleet)."""
    if not isinstance(gateway, ActivityLogReader):
        return None
    return CachedActivityLog(MeteredActivityLog(gateway, metrics), clock,
                             settings.bot_activity_log_ttl)


def sql_unit_of_work(database_url: str) -> Callable[[], UnitOfWork]:
    from bot.store.sql import unit_of_work_factory

    return unit_of_work_factory(database_url)


def bootstrap(settings: Settings, *, clock: Clock | None = None,
              gateway: IotHubGateway | None = None,
              uow: Callable[[], UnitOfWork] | None = None,
              metrics: Metrics | None = None, time_scale: float = 1.0) -> Components:
    """Wire the bot; anything passed in (a fake clock, a simulated gateway) is used as is.

    ``time_scale`` (the sandbox's ``--speed``): time runs that much faster than Azure's, so
    estimates and the failback cool-down shrink with it."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    raw = gateway or azure_gateway(settings, clock)
    activity = activity_log(raw, clock, settings, metrics)
    gateway = MeteredGateway(raw if activity is None else InvalidatingGateway(raw, activity),
                             metrics)
    uow = uow or sql_unit_of_work(settings.database_url.get_secret_value())
    service = FailoverService(
        uow=uow, gateway=gateway, clock=clock, limits=scaled_limits(settings.limits, time_scale),
        access=settings.access, request_ttl=settings.bot_request_ttl,
        poll_interval=settings.bot_poll_interval, metrics=metrics, time_scale=time_scale,
        activity=activity,
    )
    for warning in lenient_limit_warnings(settings.limits):
        log.warning("%s", warning)
    return Components(settings, clock, gateway, uow, service, metrics)


@dataclass
class Runtime:
    """Everything a running bot process holds: the Bolt app, its HTTP face and the poller."""

    components: Components
    bolt_app: Any
    web_app: Any
    poller: Poller
    notifier: Notifier
    _stop: threading.Event = field(default_factory=threading.Event)
    _poller_thread: threading.Thread | None = None

    def start_poller(self) -> None:
        self._poller_thread = threading.Thread(target=self.poller.run_forever, args=(self._stop,),
                                               name="poller", daemon=True)
        self._poller_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller_thread is not None:
            self._poller_thread.join(timeout=30)


def build_runtime(components: Components, *, client: Any, executor: Executor | None = None,
                  verify_token: bool = True, owner_id: str | None = None,
                  hand_over: Callable[[LazyJob], None] | None = None,
                  verify_requests: bool = True, workspace: Identity | None = None,
                  metrics_renderer: MetricsRenderer | None = None,
                  worker_state: Callable[[], str] | None = None,
                  answering: Callable[[], AbstractContextManager[object]] | None = None,
                  ) -> Runtime:
    """The Slack side and the poller around a wired service (serve, its work process, and
    the sandbox). With ``hand_over`` the lazy halves of listeners go there (to the work
    process); ``metrics_renderer``, ``worker_state`` and ``answering`` then come from it
    too (this process's own metrics are served while the work process cannot answer)."""
    from bot.slack.actors import SlackActorResolver
    from bot.slack.app import create_app
    from bot.slack.notifier import SlackNotifier
    from bot.web import create_web_app

    settings, service = components.settings, components.service
    notifier = SlackNotifier(client, service.notices, audit_channel=settings.bot_audit_channel)
    bolt_app = create_app(
        service, settings=settings, client=client, notifier=notifier, executor=executor,
        actor_resolver=SlackActorResolver(client, settings.access.group_ids),
        verify_token=verify_token, hand_over=hand_over, verify_requests=verify_requests,
        workspace=workspace)
    poller = make_poller(components, notifier, owner_id=owner_id)

    def own_metrics(accept: str | None) -> tuple[bytes, str]:
        return render_latest(components.metrics, accept)

    web_app = create_web_app(
        bolt_app, database_health=lambda: _database_health(components),
        worker_state=worker_state, answering=answering,
        metrics_renderer=metrics_renderer or own_metrics, own_metrics=own_metrics)
    return Runtime(components, bolt_app, web_app, poller, notifier)


def slack_client(settings: Settings, metrics: Metrics) -> Any:
    from bot.slack.client import make_web_client

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return make_web_client(token, settings.slack_api_url, metrics=metrics)


def make_poller(components: Components, notifier: Notifier, *,
                owner_id: str | None = None) -> Poller:
    settings = components.settings
    return Poller(components.service, components.uow, notifier, components.clock,
                  owner_id=owner_id, poll_interval=settings.bot_poll_interval,
                  lease_ttl=settings.bot_lease_ttl, max_workers=settings.bot_poll_workers,
                  metrics=components.metrics)


def _database_health(components: Components) -> DatabaseHealth:
    """Whether the bot can write: the SQL store probes a write; another store (a test's)
    is only asked to open a unit of work."""
    probe = getattr(components.uow, "health", None)
    if callable(probe):
        health = probe()
        assert isinstance(health, DatabaseHealth)
        return health
    try:
        with components.uow():
            return DatabaseHealth(WRITABLE)
    except StoreUnavailable as exc:
        return DatabaseHealth(UNREACHABLE, str(exc))


def configure_logging_for(settings: Settings) -> None:
    configure_logging(settings.bot_log_level, secrets=(
        settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token,
        settings.database_url))


def prepare(settings: Settings, gateway_factory: GatewayFactory = azure_gateway, *,
            metrics: Metrics | None = None) -> Components:
    configure_logging_for(settings)
    from bot.store.migrate import ensure_schema

    clock = SystemClock()
    try:  # a missing Azure setting fails before migrating
        gateway = gateway_factory(settings, clock)
    except (ValueError, OSError) as exc:  # azure-identity: a bad tenant, a missing certificate
        raise ConfigError(f"the azure-identity variables (AZURE_TENANT_ID, AZURE_CLIENT_ID, …) "
                          f"do not make a credential: {exc}") from None
    ensure_schema(settings.database_url.get_secret_value())
    return bootstrap(settings, clock=clock, gateway=gateway, metrics=metrics)


def _require(settings: Settings, *names: str) -> None:
    for name in names:
        if getattr(settings, name.lower()) is None:
            raise ConfigError(f"{name}: required by `failover-bot serve` "
                              "(try `failover-bot sandbox` to run without Slack)")


def _can_listen(port: int) -> None:
    """Before anything starts: uvicorn would find a taken port only after the work process
    was spawned, and exit with its own status."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - where serve listens
        except OSError as exc:
            raise ConfigError(f"PORT: cannot listen on port {port}: {exc.strerror} "
                              "(set PORT or --port)") from None


def serve(settings: Settings, *, port: int | None = None, with_worker: bool = True,
          gateway_factory: GatewayFactory = azure_gateway) -> int:
    """Run the bot: HTTP on ``port``, or Socket Mode (health and metrics still on HTTP).

    This process is the front: it acks. The work after each ack, and the poller unless
    ``with_worker`` is false, run in a work process it starts (``bot.work_process``).
    ``gateway_factory`` builds the hub gateway (Azure unless a drill or a test says otherwise);
    it must be a module-level function, as the work process builds its own.
    """
    _require(settings, "SLACK_BOT_TOKEN")
    if not settings.socket_mode:
        _require(settings, "SLACK_SIGNING_SECRET")
    components = prepare(settings, gateway_factory)
    from bot.slack.client import check_auth
    from bot.slack.guard import own_identity
    from bot.web import run_http, run_socket_mode
    from bot.work_process import WorkProcess, WorkSpec

    # uvicorn re-raises SIGTERM once it has shut down: make that an exception, so the
    # `finally` below lets the work process finish what it holds.
    signal.signal(signal.SIGTERM, _exit_quietly)
    client = slack_client(settings, components.metrics)
    # Slack once, before anything is spawned: a bad token or no Slack is one line and an exit
    # code; Bolt's own check (an uncaught BoltError) is then not needed here.
    workspace = own_identity(client, check_auth(client, settings.slack_api_url))
    _can_listen(port or settings.port)
    release_start_up_logs()  # start-up checks passed: what they logged is written now
    work = WorkProcess(WorkSpec(settings, gateway_factory, run_poller=with_worker)).start()
    runtime = build_runtime(components, client=client, verify_token=False, workspace=workspace,
                            hand_over=work.send,
                            metrics_renderer=work.render_metrics, worker_state=work.state,
                            answering=work.in_flight.answering)
    port = port or settings.port
    # What start-up built lives as long as the process: keep it out of every full garbage
    # collection, which would otherwise pause the acks for tens of milliseconds.
    gc.freeze()
    try:
        if settings.slack_app_token is not None:
            threading.Thread(target=run_http, args=(runtime.web_app, port), daemon=True,
                             name="health").start()
            run_socket_mode(runtime.bolt_app, settings.slack_app_token.get_secret_value())
        else:
            log.info("serving Slack on port %d", port)
            run_http(runtime.web_app, port)
    finally:
        work.stop()
    return 0


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_worker(settings: Settings) -> int:
    """Only the poller: for deployments that scale it apart from the HTTP front."""
    _require(settings, "SLACK_BOT_TOKEN")
    components = prepare(settings)
    from bot.slack.notifier import SlackNotifier

    client = slack_client(settings, components.metrics)
    notifier = SlackNotifier(client, components.service.notices,
                             audit_channel=settings.bot_audit_channel)
    poller = make_poller(components, notifier)
    stop = threading.Event()
    try:
        poller.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
        poller.close()
    return 0
