"""The composition root: builds real adapters from settings, or takes the ones it is given."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from bot.config import ConfigError, Settings
from bot.domain.clock import Clock, SystemClock
from bot.hubs.gateway import IotHubGateway
from bot.hubs.metered import MeteredGateway
from bot.notifications import Notifier
from bot.poller import Poller
from bot.service import FailoverService
from bot.store.base import StoreUnavailable, UnitOfWork
from bot.telemetry import Metrics, configure_logging, render_latest

log = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL = 0.0005  # seconds


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


def sql_unit_of_work(database_url: str) -> Callable[[], UnitOfWork]:
    from bot.store.sql import unit_of_work_factory

    return unit_of_work_factory(database_url)


def bootstrap(settings: Settings, *, clock: Clock | None = None,
              gateway: IotHubGateway | None = None,
              uow: Callable[[], UnitOfWork] | None = None,
              metrics: Metrics | None = None) -> Components:
    """Wire the bot; anything passed in (a fake clock, a simulated gateway) is used as is."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    gateway = MeteredGateway(gateway or azure_gateway(settings, clock), metrics)
    uow = uow or sql_unit_of_work(settings.database_url.get_secret_value())
    service = FailoverService(
        uow=uow, gateway=gateway, clock=clock, limits=settings.limits, access=settings.access,
        request_ttl=settings.bot_request_ttl, poll_interval=settings.bot_poll_interval,
        metrics=metrics,
    )
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
                  verify_token: bool = True, owner_id: str | None = None) -> Runtime:
    """The Slack side and the poller around a wired service (used by serve and the sandbox)."""
    from bot.slack.actors import SlackActorResolver
    from bot.slack.app import create_app
    from bot.slack.notifier import SlackNotifier
    from bot.slack.priority import AckGate
    from bot.web import create_web_app

    settings, service = components.settings, components.service
    # Acks wait for the GIL behind the work that follows other acks; a shorter switch
    # interval than CPython's 5 ms keeps their latency close to a bare Bolt app's.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    notifier = SlackNotifier(client, service, audit_channel=settings.bot_audit_channel)
    gate = AckGate()
    bolt_app = create_app(
        service, settings=settings, client=client, notifier=notifier, executor=executor,
        actor_resolver=SlackActorResolver(client, settings.access.group_ids),
        verify_token=verify_token, gate=gate)
    poller = make_poller(components, notifier, owner_id=owner_id)
    web_app = create_web_app(
        bolt_app, database_ok=lambda: _database_ok(components), gate=gate,
        metrics_renderer=lambda accept: render_latest(components.metrics, accept))
    return Runtime(components, bolt_app, web_app, poller, notifier)


def make_poller(components: Components, notifier: Notifier, *,
                owner_id: str | None = None) -> Poller:
    settings = components.settings
    return Poller(components.service, components.uow, notifier, components.clock,
                  owner_id=owner_id, poll_interval=settings.bot_poll_interval,
                  lease_ttl=settings.bot_lease_ttl, max_workers=settings.bot_poll_workers,
                  metrics=components.metrics)


def _database_ok(components: Components) -> bool:
    try:
        with components.uow() as uow:
            uow.requests.get("healthz")
        return True
    except StoreUnavailable:
        return False


GatewayFactory = Callable[[Settings, Clock], IotHubGateway]


def _prepare(settings: Settings, gateway_factory: GatewayFactory = azure_gateway) -> Components:
    configure_logging(settings.bot_log_level, secrets=(
        settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token,
        settings.database_url))
    from bot.store.migrate import ensure_schema

    clock = SystemClock()
    gateway = gateway_factory(settings, clock)  # a missing Azure setting fails before migrating
    ensure_schema(settings.database_url.get_secret_value())
    return bootstrap(settings, clock=clock, gateway=gateway)


def _require(settings: Settings, *names: str) -> None:
    for name in names:
        if getattr(settings, name.lower()) is None:
            raise ConfigError(f"{name}: required by `failover-bot serve` "
                              "(try `failover-bot sandbox` to run without Slack)")


def serve(settings: Settings, *, port: int | None = None, with_worker: bool = True,
          gateway_factory: GatewayFactory = azure_gateway) -> int:
    """Run the bot: HTTP on ``port``, or Socket Mode (health and metrics still on HTTP).

    ``gateway_factory`` builds the hub gateway (Azure unless a drill or a test says otherwise);
    it must be a module-level function, as worker processes build their own.
    """
    _require(settings, "SLACK_BOT_TOKEN")
    if not settings.socket_mode:
        _require(settings, "SLACK_SIGNING_SECRET")
    components = _prepare(settings, gateway_factory)
    from bot.slack.client import make_web_client
    from bot.web import run_http, run_socket_mode

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = make_web_client(token, settings.slack_api_url, metrics=components.metrics)
    runtime = build_runtime(components, client=client)
    if with_worker:
        runtime.start_poller()
    port = port or settings.port
    try:
        if settings.slack_app_token is not None:
            threading.Thread(target=run_http, args=(runtime.web_app, port), daemon=True,
                             name="health").start()
            run_socket_mode(runtime.bolt_app, settings.slack_app_token.get_secret_value())
        else:
            log.info("serving Slack on port %d", port)
            run_http(runtime.web_app, port)
    finally:
        runtime.stop()
    return 0


def run_worker(settings: Settings) -> int:
    """Only the poller: for deployments that scale it apart from the HTTP front."""
    _require(settings, "SLACK_BOT_TOKEN")
    components = _prepare(settings)
    from bot.slack.client import make_web_client
    from bot.slack.notifier import SlackNotifier

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = make_web_client(token, settings.slack_api_url, metrics=components.metrics)
    notifier = SlackNotifier(client, components.service,
                             audit_channel=settings.bot_audit_channel)
    poller = make_poller(components, notifier)
    stop = threading.Event()
    try:
        poller.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
        poller.close()
    return 0
