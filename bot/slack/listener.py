"""One Slack listener, declared once, for both roles: what it answers, its ack and its lazy
halves. The front registers the ack and only names the halves (it holds no service); the
work process registers the same listener with each half built from its ``ListenerDeps``. Every
declaration is listed in ``bot.slack.listeners``, the table both roles register from.

A lazy half may run more than once: the front stores it before handing it over, and the
work process runs it again after a crash (``bot.job_handover``). It must be safe to repeat
(a submission carries its view id as a key, a click is a compare-and-set)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slack_bolt import Ack, App

from bot.domain.policy import AccessPolicy
from bot.slack.lazy import Half, lazy_half
from bot.slack.listener_deps import ListenerDeps


class Kind(StrEnum):
    """What a listener's trigger is; each is Bolt's method of the same name."""

    COMMAND = "command"  # a slash command
    ACTION = "action"  # a button's action_id
    VIEW = "view"  # a dialog's callback_id
    EVENT = "event"  # an Events API event type


Access = Callable[[], AccessPolicy]  # the role's access policy, read at each ack
Acknowledge = Callable[..., None]  # the listener's ack: pure and quick, it runs in the front
Build = Callable[[ListenerDeps], Callable[..., None]]  # a lazy half, built in the work process


class ListenerDeclarationError(ValueError):
    """A listener the roles could not both register as declared."""


@dataclass(frozen=True)
class Listener:
    kind: Kind
    trigger: str  # the command, action_id, callback_id or event type
    ack: Callable[[Access], Acknowledge]  # builds the ack, given the role's access policy
    halves: Mapping[Half, Build]  # each lazy half, in the order Bolt starts them

    def __post_init__(self) -> None:
        where = f"{self.kind} {self.trigger!r}"
        if not isinstance(self.kind, Kind):
            raise ListenerDeclarationError(f"{where}: not a kind of listener")
        for name, build in self.halves.items():
            if not isinstance(name, Half):
                raise ListenerDeclarationError(
                    f"{where}: lazy half {name!r} is not one of bot.slack.lazy.Half")
            if not callable(build):
                raise ListenerDeclarationError(f"{where}: lazy half {name} has no builder")

    def register(self, app: App, deps: ListenerDeps | None, access: Access) -> None:
        """Without ``deps`` (the front), the lazy halves are only named: they run elsewhere."""
        listen = {Kind.COMMAND: app.command, Kind.ACTION: app.action, Kind.VIEW: app.view,
                  Kind.EVENT: app.event}[self.kind]
        listen(self.trigger)(ack=self.ack(access), lazy=[
            lazy_half(name, deps, build) for name, build in self.halves.items()])


def any_access(acknowledge: Acknowledge) -> Callable[[Access], Acknowledge]:
    """For an ack that does not read the access policy."""

    def build(_: Access) -> Acknowledge:
        return acknowledge

    return build


def dialog_ack(check: Callable[[Ack, dict[str, Any], AccessPolicy, str], None]
               ) -> Callable[[Access], Acknowledge]:
    """A dialog submission's ack: ``check(ack, view, policy, user)``, with the role's access
    policy as it is at each submission."""

    def build(access: Access) -> Acknowledge:
        def acknowledge(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
            check(ack, view, access(), body["user"]["id"])

        return acknowledge

    return build
