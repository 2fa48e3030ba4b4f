"""The composition root: builds real adapters from settings, or takes the ones it is given."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import ConfigError, Settings
from bot.domain.clock import Clock, SystemClock
from bot.hubs.gateway import IotHubGateway
from bot.service import FailoverService
from bot.store.base import UnitOfWork
from bot.telemetry import Metrics

log = logging.getLogger(__name__)


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
    from bot.store.sql import SqlUnitOfWork, session_factory

    factory = session_factory(database_url)
    return lambda: SqlUnitOfWork(factory)


def bootstrap(settings: Settings, *, clock: Clock | None = None,
              gateway: IotHubGateway | None = None,
              uow: Callable[[], UnitOfWork] | None = None,
              metrics: Metrics | None = None) -> Components:
    """Wire the bot; anything passed in (a fake clock, a simulated gateway) is used as is."""
    clock = clock or SystemClock()
    gateway = gateway or azure_gateway(settings, clock)
    uow = uow or sql_unit_of_work(settings.database_url.get_secret_value())
    metrics = metrics or Metrics()
    service = FailoverService(
        uow=uow, gateway=gateway, clock=clock, limits=settings.limits, access=settings.access,
        request_ttl=settings.bot_request_ttl, poll_interval=settings.bot_poll_interval,
    )
    return Components(settings, clock, gateway, uow, service, metrics)
