"""The Approve and Reject buttons: ack at once, decide in the lazy half, then start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from slack_bolt import Ack

from bot.domain.batch import is_batch_id
from bot.domain.request import RequestStatus
from bot.domain.rules import Refusal
from bot.slack import batch_actions, reports
from bot.slack.clicked import Click, on_click
from bot.slack.lazy import DECIDE
from bot.slack.listener import Kind, Listener, any_access
from bot.slack.listener_deps import ListenerDeps
from bot.slack.messages import APPROVE, REJECT
from bot.slack.text import said

log = logging.getLogger(__name__)


def _acknowledge(ack: Ack) -> None:
    ack()


def _decide(deps: ListenerDeps, *, approve: bool) -> Callable[..., None]:
    def decide(click: Click) -> None:
        if is_batch_id(click.value):  # a regional batch: same buttons, its own use cases
            return batch_actions.decide(deps, click.user, click.value, click.on,
                                        approve=approve, tell=click.tell)
        actor = deps.actors.resolve(click.user)
        if approve:
            decision = deps.service.deciding.approve(actor, click.value, click.on)
        else:
            decision = deps.service.deciding.reject(actor, click.value, clicked=click.on)
        outcome = decision.outcome
        if isinstance(outcome, Refusal):
            click.tell(said(outcome.message), reports.refusal_blocks(outcome))
            return
        # Start first: an error while editing the message must not be read as "nothing
        # was started" by anybody.
        if outcome.status is RequestStatus.APPROVED:
            deps.executor.submit(start_request, deps, outcome.id)
        deps.notifier.request_changed(outcome)

    return on_click(deps, decide)


def start_request(deps: ListenerDeps, request_id: str) -> None:
    """Runs in the executor: one call to Azure (the service guards against a second)."""
    try:
        started = deps.service.starting.start(request_id)
        if started is not None:
            deps.notifier.request_changed(started)
    except Exception:
        log.exception("starting %s failed; the poller will pick it up if it is running",
                      request_id)


# Ack the click at once; deciding reads the database, so it is the lazy half.
LISTENERS = (
    Listener(Kind.ACTION, APPROVE, any_access(_acknowledge),
             {DECIDE: partial(_decide, approve=True)}),
    Listener(Kind.ACTION, REJECT, any_access(_acknowledge),
             {DECIDE: partial(_decide, approve=False)}),
)
