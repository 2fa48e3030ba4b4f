"""The Approve and Reject buttons: ack at once, decide in the lazy half, then start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain.batch import is_batch_id
from bot.domain.request import RequestStatus
from bot.slack import batch_actions, reports
from bot.slack.clicked import clicked_message, teller
from bot.slack.deps import Deps, clicked_value, guarded
from bot.slack.lazy import DECIDE
from bot.slack.listener import Kind, Listener, any_access
from bot.slack.messages import APPROVE, REJECT
from bot.slack.text import said

log = logging.getLogger(__name__)


def _acknowledge(ack: Ack) -> None:
    ack()


def _decide(deps: Deps, *, approve: bool) -> Callable[..., None]:
    def decide(body: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        clicked = clicked_message(body)  # the value must belong to this message
        request_id = clicked_value(deps, body)
        tell = teller(client, clicked, user)

        def work() -> None:
            if is_batch_id(request_id):  # a regional batch: same buttons, its own use cases
                return batch_actions.decide(deps, user, request_id, clicked, approve=approve,
                                            tell=tell)
            actor = deps.actors.resolve(user)
            if approve:
                decision = deps.service.deciding.approve(actor, request_id, clicked)
            else:
                decision = deps.service.deciding.reject(actor, request_id, clicked=clicked)
            if decision.refusal:
                tell(said(decision.refusal.message), reports.refusal_blocks(decision.refusal))
                return
            assert decision.request is not None
            # Start first: an error while editing the message must not be read as "nothing
            # was started" by anybody.
            if decision.request.status is RequestStatus.APPROVED:
                deps.executor.submit(start_request, deps, decision.request.id)
            deps.notifier.request_changed(decision.request)

        guarded(tell)(work)

    return decide


def start_request(deps: Deps, request_id: str) -> None:
    """Runs in the executor: one call to Azure (the service guards against a second)."""
    try:
        started = deps.service.starts.start(request_id)
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
