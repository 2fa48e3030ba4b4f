"""What the front and its work process tell each other (``bot.work_process`` pickles a
``ChildStart`` to the child's standard input, ``bot.work_child`` reads it): plain values,
importable by both without the other's libraries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings

NICENESS = 19  # acks first: the front keeps the default priority


@dataclass(frozen=True)
class WorkSpec:
    """What the child needs to build itself, pickled to its standard input (so
    ``gateway_factory`` is a module-level function). Without ``settings`` the child reads
    them from the environment it inherits, as ``failover-bot serve`` does."""

    settings: Settings | None = None
    # GatewayFactory, (Settings, Clock) -> IotHubGateway, or its "module:function" name, which
    # only the work process imports (a drill's fake wire stays out of the front). None: Azure.
    gateway_factory: Any = None
    run_poller: bool = True
    niceness: int = NICENESS
    port: int | None = None  # serve --port, over PORT


@dataclass(frozen=True)
class ChildStart:
    """One incarnation's part: its descriptors, its owner token and its predecessor's."""

    spec: WorkSpec
    jobs_fd: int
    control_fd: int
    front_page_fd: int
    work_page_fd: int
    owner: str
    previous_owner: str | None
    parent: int


class StartFailed(Exception):
    """The first work process could not start: ``line`` and the exit ``status`` to report."""

    def __init__(self, line: str, status: int) -> None:
        super().__init__(line)
        self.line, self.status = line, status


@dataclass(frozen=True)
class DatabaseAnswer:
    """The database's health as the work process probed it (``bot.web.DatabaseHealth``)."""

    state: str
    detail: str
