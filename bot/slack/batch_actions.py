"""A regional batch's buttons: Approve / Reject (the same ``approve`` / ``reject`` action ids
as a single request's, routed here when the value is a batch id), Stop the rest and Retry
failed. Each acks at once; the lazy half decides, answers the clicker ephemerally and edits
the board at once (the board keeper edits it afterwards as hubs progress)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from slack_bolt import Ack

from bot.domain.clicks import ClickedMessage
from bot.domain.policy import Actor
from bot.domain.request import RequestStatus
from bot.service import BatchDecision
from bot.slack import reports
from bot.slack.board_blocks import RETRY_FAILED, STOP_REST
from bot.slack.clicked import Click, Tell, on_click
from bot.slack.lazy import DECIDE
from bot.slack.listener import Kind, Listener, any_access
from bot.slack.listener_deps import ListenerDeps
from bot.slack.text import said

log = logging.getLogger(__name__)


def _acknowledge(ack: Ack) -> None:
    ack()


def decide(deps: ListenerDeps, user: str, batch_id: str, clicked: ClickedMessage, *, approve: bool,
           tell: Tell) -> None:
    """Approve or reject a batch (from ``bot.slack.actions``, which routes batch ids here)."""
    actor = deps.actors.resolve(user)
    if approve:
        decision = deps.service.batch_deciding.approve(actor, batch_id, clicked)
    else:
        decision = deps.service.batch_deciding.reject(actor, batch_id, clicked=clicked)
    if decision.ok and decision.batch is not None and approve and decision.changed == 0:
        tell(f"Batch `{batch_id}` is approved, but none of its hubs could be: each was over "
             "today's limits by the time you approved. Nothing was started.")
    _answered(deps, decision, batch_id, tell, None)


Use = Callable[[ListenerDeps, Actor, str, ClickedMessage], tuple[BatchDecision, str]]


def _clicked(deps: ListenerDeps, use: Use) -> Callable[..., None]:
    def clicked(click: Click) -> None:
        decision, done = use(deps, deps.actors.resolve(click.user), click.value, click.on)
        _answered(deps, decision, click.value, click.tell, done)

    return on_click(deps, clicked)


def _stop(deps: ListenerDeps, actor: Actor, batch_id: str,
          clicked: ClickedMessage) -> tuple[BatchDecision, str]:
    decision = deps.service.batch_deciding.stop(actor, batch_id, clicked)
    running = sum(1 for r in decision.members if r.status is RequestStatus.RUNNING)
    kind = decision.batch.kind.value if decision.batch else "failover"
    tail = (f" {running} already running {'goes' if running == 1 else 'go'} on (Azure cannot "
            f"stop a {kind}).") if running else ""
    return decision, (f"Stopped batch `{batch_id}`: {decision.changed} hub"
                      f"{'s' if decision.changed != 1 else ''} not started yet "
                      f"{'were' if decision.changed != 1 else 'was'} cancelled.{tail}")


def _retry(deps: ListenerDeps, actor: Actor, batch_id: str,
           clicked: ClickedMessage) -> tuple[BatchDecision, str]:
    decision = deps.service.batch_deciding.retry_failed(actor, batch_id, clicked)
    return decision, (f"Retrying {decision.changed} failed hub"
                      f"{'s' if decision.changed != 1 else ''} of batch `{batch_id}`: each is "
                      "asked for again, approved by you, and re-checked before it starts. "
                      "Progress is on the board.")


def _answered(deps: ListenerDeps, decision: BatchDecision, batch_id: str, tell: Tell,
              done: str | None) -> None:
    if decision.refusal:
        tell(said(decision.refusal.message), reports.refusal_blocks(decision.refusal))
        return
    if done:
        tell(done)
    board = deps.service.boards.board(batch_id)
    if board is not None:
        deps.boards.show_board(board)


LISTENERS = (
    Listener(Kind.ACTION, STOP_REST, any_access(_acknowledge),
             {DECIDE: partial(_clicked, use=_stop)}),
    Listener(Kind.ACTION, RETRY_FAILED, any_access(_acknowledge),
             {DECIDE: partial(_clicked, use=_retry)}),
)
