"""Every role registers every listener of ``bot.slack.listeners``, and nothing else: the front
(acks, halves only named), the work process and the single-process bot (halves built), each
as Bolt holds it. A listener declared wrong fails at import, before either role is built;
an ack wanting a half its listener lacks fails loudly at the front."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from slack_bolt import Ack, App, BoltContext, BoltRequest

from bot.bootstrap import bootstrap
from bot.domain.policy import AccessPolicy
from bot.roles.single import build_runtime
from bot.slack.front_app import create_front_app
from bot.slack.guard import own_identity
from bot.slack.lazy import (
    ANSWER,
    DECIDE,
    WANTED_HALVES,
    Half,
    LazyJob,
    hand_over_lazy_halves,
    registered,
)
from bot.slack.listener import Kind, Listener, ListenerDeclarationError, any_access
from bot.slack.listeners import LISTENERS, checked

from .conftest import SECRET, Bot, SyncExecutor, signed

# A payload of each kind that reaches the listener with this trigger (Socket Mode's parsed
# bodies: Bolt matches on them as on HTTP's).
PROBES = {
    Kind.COMMAND: lambda trigger: {"command": trigger, "text": ""},
    Kind.ACTION: lambda trigger: {"type": "block_actions", "actions": [
        {"type": "button", "action_id": trigger, "value": "x"}]},
    Kind.VIEW: lambda trigger: {"type": "view_submission", "view": {
        "type": "modal", "callback_id": trigger}},
    Kind.EVENT: lambda trigger: {"type": "event_callback", "event": {"type": trigger}},
}


def _probe(listener: Listener) -> BoltRequest:
    return BoltRequest(body=PROBES[listener.kind](listener.trigger), mode="socket_mode")


def _as_held(app: App) -> list[tuple[str, str, tuple[str, ...]]]:
    """Each of ``app``'s listeners, in Bolt's order: the declared trigger it answers (the
    first that matches) and its lazy halves by name."""
    held = []
    for each in registered(app):
        answers = next((f"{declared.kind} {declared.trigger}" for declared in LISTENERS
                        if each.matches(_probe(declared))), "nothing declared")
        held.append((answers, each.halves))
    return held


DECLARED = [(f"{listener.kind} {listener.trigger}", tuple(listener.halves))
            for listener in LISTENERS]


def _front(bot: Bot, jobs: list[LazyJob] | None = None) -> App:
    return create_front_app(signing_secret=bot.settings.signing_secret,
                            access=bot.settings.access, client=bot.app.client,
                            workspace=own_identity(bot.app.client),
                            hand_over=(jobs if jobs is not None else []).append)


def _single(bot: Bot) -> App:
    components = bootstrap(bot.settings, clock=bot.clock, gateway=bot.gateway,
                           uow=bot.service.uow)
    return build_runtime(components, client=bot.app.client, executor=SyncExecutor()).bolt_app


@pytest.mark.parametrize("role", ["front", "work", "single"])
def test_each_role_registers_every_declared_listener_and_no_other(bot: Bot, role: str) -> None:
    app = {"front": _front, "work": lambda b: b.app, "single": _single}[role](bot)
    assert _as_held(app) == DECLARED


def test_a_listener_registered_in_one_role_only_is_told_apart(bot: Bot) -> None:
    front = _front(bot)
    extra = Listener(Kind.ACTION, "extra", any_access(_plain_ack), {DECIDE: _unused})
    extra.register(bot.app, None, AccessPolicy)
    assert _as_held(front) == DECLARED
    assert _as_held(bot.app) == [*DECLARED, ("nothing declared", (DECIDE,))]


def test_the_table_uses_every_lazy_half_and_each_trigger_once() -> None:
    assert {name for listener in LISTENERS for name in listener.halves} == set(Half)
    assert len({(each.kind, each.trigger) for each in LISTENERS}) == len(LISTENERS)


def test_a_lazy_half_without_its_builder_is_refused_where_it_is_declared() -> None:
    with pytest.raises(ListenerDeclarationError, match="'/x': lazy half answer has no builder"):
        Listener(Kind.COMMAND, "/x", any_access(_plain_ack), {ANSWER: None})  # type: ignore[dict-item]


def test_a_lazy_half_by_a_name_no_half_has_is_refused_where_it_is_declared() -> None:
    with pytest.raises(ListenerDeclarationError, match="'anser' is not one of"):
        Listener(Kind.COMMAND, "/x", any_access(_plain_ack), {"anser": _unused})  # type: ignore[dict-item]


def test_a_table_without_some_half_or_with_a_trigger_twice_is_refused() -> None:
    without_home = [each for each in LISTENERS if Half.HOME not in each.halves]
    with pytest.raises(ListenerDeclarationError, match="lazy halves no listener has: home"):
        checked(without_home)
    with pytest.raises(ListenerDeclarationError, match="declared more than once: action"):
        checked([*LISTENERS, LISTENERS[3]])


@pytest.mark.parametrize("wanted", [{"anser"}, {DECIDE}], ids=["no such half", "not its own"])
def test_an_ack_wanting_a_half_its_listener_lacks_fails_loudly_in_the_front(
        bot: Bot, wanted: set[str], caplog: pytest.LogCaptureFixture) -> None:
    def acknowledge(ack: Ack, context: BoltContext) -> None:
        context[WANTED_HALVES] = frozenset(wanted)
        ack()

    app = App(client=bot.app.client, signing_secret=SECRET,
              token_verification_enabled=False, process_before_response=True)
    Listener(Kind.COMMAND, "/x", any_access(acknowledge), {ANSWER: _unused}).register(
        app, None, AccessPolicy)
    jobs: list[LazyJob] = []
    hand_over_lazy_halves(app, jobs.append)
    body = "command=%2Fx&text=&user_id=U0ALICE&team_id=T0&channel_id=C0"
    with caplog.at_level(logging.ERROR):
        response = app.dispatch(BoltRequest(body=body, headers=signed(body)))
    assert response.status == 500
    assert jobs == []  # nothing handed over that nothing would run
    said = f"an ack wanted {sorted(map(str, wanted))}; its listener's lazy halves are ['answer']"
    assert any(said in record.getMessage() for record in caplog.records)


def _plain_ack(ack: Ack) -> None:
    ack()


def _unused(deps: Any) -> Any:
    raise AssertionError("built only in the work process")
