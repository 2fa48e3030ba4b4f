"""The composition root: builds real adapters from settings, or takes the ones it is given."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.limit_warnings import lenient_limit_warnings, scaled_limits
from bot.domain.timeline import SAME_CLOCK, Timeline
from bot.hubs.activity import ActivityLogReader, CachedActivityLog, InvalidatingGateway
from bot.hubs.consumers import ConsumerRestarts
from bot.hubs.gateway import IotHubGateway
from bot.hubs.hub_metrics import HubMetrics
from bot.hubs.metered import MeteredActivityLog, MeteredGateway, MeteredHubMetrics
from bot.notifications import AfterMoveNotifier, DrillNotifier, Notifier
from bot.poller import Poller
from bot.service import FailoverService
from bot.service.boards import BoardNotifier
from bot.store.base import StoreUnavailable, UnitOfWork
from bot.store.health import UNREACHABLE, WRITABLE, DatabaseHealth
from bot.telemetry import Metrics, configure_logging

if TYPE_CHECKING:
    from azure.identity import DefaultAzureCredential
    from slack_sdk import WebClient

log = logging.getLogger(__name__)

GatewayFactory = Callable[[Settings, Clock], IotHubGateway]


@dataclass
class Components:
    settings: Settings
    clock: Clock
    gateway: IotHubGateway
    uow: Callable[[], UnitOfWork]
    service: FailoverService
    metrics: Metrics


def _require_subscription(settings: Settings) -> None:
    if not settings.azure_subscription_id:
        raise ConfigError("AZURE_SUBSCRIPTION_ID: required to talk to Azure "
                          "(try `failover-bot sandbox` for a simulated fleet)")


def _credential(settings: Settings) -> DefaultAzureCredential:
    from azure.identity import DefaultAzureCredential

    from bot.hubs.azure import authority_for

    try:
        return DefaultAzureCredential(authority=authority_for(settings.azure_cloud.value))
    except (ValueError, OSError) as exc:  # azure-identity: a bad tenant, a missing certificate
        raise ConfigError(f"the azure-identity variables (AZURE_TENANT_ID, AZURE_CLIENT_ID, …) "
                          f"do not make a credential: {exc}") from None


def azure_gateway(settings: Settings, clock: Clock) -> IotHubGateway:
    _require_subscription(settings)
    from bot.hubs.azure import AzureIotHubGateway

    cloud = settings.azure_cloud.value
    credential = _credential(settings)
    return AzureIotHubGateway(credential=credential,
                              subscription_ids=settings.azure_subscription_id, cloud=cloud,
                              cache_ttl=settings.bot_hub_cache_ttl, clock=clock,
                              read_deadline=settings.bot_azure_read_deadline.total_seconds())


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
              metrics: Metrics | None = None, time_scale: float = 1.0,
              timeline: Timeline | None = None) -> Components:
    """Wire the bot; anything passed in (a fake clock, a simulated gateway) is used as is.

    ``time_scale`` (the sandbox's ``--speed``): time runs that much faster than Azure's, so
    estimates and the failback cool-down shrink with it; ``timeline``: Azure's time, on
    which its metrics' minutes are (the sandbox's fleet runs its own, faster)."""
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
        activity=activity, batch_starts_per_minute=settings.bot_batch_max_starts_per_minute,
        verify_rules=settings.verify_rules,
        hub_metrics=MeteredHubMetrics(raw, metrics) if isinstance(raw, HubMetrics) else None,
        timeline=timeline or SAME_CLOCK,
        consumer_restarts=raw if isinstance(raw, ConsumerRestarts) else None,
        drill_hubs=frozenset(settings.bot_drill_hubs),
    )
    for warning in lenient_limit_warnings(settings.limits):
        log.warning("%s", warning)
    return Components(settings, clock, gateway, uow, service, metrics)


def slack_client(settings: Settings, metrics: Metrics) -> WebClient:
    from bot.slack.client import make_web_client

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return make_web_client(token, settings.slack_api_url, metrics=metrics)


def make_poller(components: Components, notifier: Notifier, *,
                owner_id: str | None = None, boards: BoardNotifier | None = None) -> Poller:
    """``boards``: where regional batches' boards are shown (without it, nobody keeps them)."""
    settings = components.settings
    return Poller(components.service, components.uow, notifier, components.clock,
                  owner_id=owner_id, poll_interval=settings.bot_poll_interval,
                  lease_ttl=settings.bot_lease_ttl, max_workers=settings.bot_poll_workers,
                  metrics=components.metrics, boards=boards,
                  after_move=notifier if isinstance(notifier, AfterMoveNotifier) else None,
                  reads_per_second=settings.bot_verify_reads_per_second,
                  drills=notifier if isinstance(notifier, DrillNotifier) else None)


def database_health(uow: Callable[[], UnitOfWork]) -> DatabaseHealth:
    """Whether the bot can write: the SQL store probes a write; another store (a test's)
    is only asked to open a unit of work."""
    probe = getattr(uow, "health", None)
    if callable(probe):
        health = probe()
        if isinstance(health, DatabaseHealth):
            return health
    try:
        with uow():
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
    from bot.store.schema import ensure_schema

    clock = SystemClock()
    try:  # a missing Azure setting fails before migrating
        gateway = gateway_factory(settings, clock)
    except (ValueError, OSError) as exc:  # azure-identity: a bad tenant, a missing certificate
        raise ConfigError(f"the azure-identity variables (AZURE_TENANT_ID, AZURE_CLIENT_ID, …) "
                          f"do not make a credential: {exc}") from None
    ensure_schema(settings.database_url.get_secret_value())
    return bootstrap(settings, clock=clock, gateway=gateway, metrics=metrics)
