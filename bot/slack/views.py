"""The confirmation modal's submission: check the typed name at once, submit lazily."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, check_confirmation
from bot.service import FieldErrors, SubmitFailover
from bot.slack.actions import start_request
from bot.slack.deps import Deps, failure_message
from bot.slack.lazy import SUBMIT
from bot.slack.listener import Kind, Listener, dialog_ack
from bot.slack.modals import (
    CALLBACK_ID,
    NAME_INPUT,
    REASON_INPUT,
    ModalContext,
    error_modal,
    refusal_modal,
    submitted_modal,
    submitting_modal,
)
from bot.slack.view_state import STALE, input_value, text_cleaning

log = logging.getLogger(__name__)


def _submitter(deps: Deps) -> Callable[..., None]:
    def submit(body: dict[str, Any], client: WebClient) -> None:
        _submit(deps, body, client)

    return submit


def _inline_errors(access: AccessPolicy, user: str, context: ModalContext,
                   view: dict[str, Any]) -> dict[str, Refusal]:
    """The checks that need no I/O; the lazy half's service.submit makes (and audits) them
    again, and leaves the dialog alone when this found them."""
    errors = check_confirmation(context.hub, input_value(view, NAME_INPUT),
                                input_value(view, REASON_INPUT))
    nobody = access.check_approvable(Actor(user))
    return {**errors, NAME_INPUT: nobody} if nobody else errors


def _acknowledge(ack: Ack, view: dict[str, Any], access: AccessPolicy, user: str) -> None:
    """Pure checks only: a wrong name gets its inline error with no I/O at all."""
    try:
        context = ModalContext.load(view.get("private_metadata") or "")
    except ValueError:
        ack(response_action="errors", errors={NAME_INPUT: STALE})
        return
    errors = _inline_errors(access, user, context, view)
    if errors:
        ack(response_action="errors", errors={k: r.message for k, r in errors.items()})
        return
    ack(response_action="update", view=submitting_modal(context))


def _submit(deps: Deps, body: dict[str, Any], client: WebClient) -> None:
    """Always goes through the service, so a mismatch is audited like every refusal."""
    view = body["view"]
    try:
        context = ModalContext.load(view.get("private_metadata") or "")
    except ValueError:
        return
    cmd = SubmitFailover(actor=deps.actors.resolve(body["user"]["id"]), channel_id=context.channel,
                         hub_name=context.hub, kind=context.kind,
                         typed_name=input_value(view, NAME_INPUT),
                         reason=input_value(view, REASON_INPUT),
                         expected_active_region=context.active,
                         key=str(view.get("id") or "") or None,  # a re-run finds its request
                         cleaned=text_cleaning(view, (NAME_INPUT, REASON_INPUT)))
    try:
        result = deps.service.asking.submit(cmd)
        if isinstance(result, FieldErrors):
            if _inline_errors(deps.service.access, cmd.actor.user_id, context, view):
                return  # the ack already showed these inline
            shown = error_modal(context, " ".join(result.errors.values()))
        elif isinstance(result, Refusal):
            shown = refusal_modal(context, result)
        else:
            shown = submitted_modal(context, result.request, _announce(deps, result.request))
            if result.request.status is RequestStatus.APPROVED:
                deps.executor.submit(start_request, deps, result.request.id)
    except Exception as exc:
        shown = error_modal(context, failure_message(exc))
    try:
        client.views_update(view_id=view["id"], view=shown)
    except SlackApiError as exc:
        log.info("views.update after submit failed: %s", exc.response.get("error"))


def _announce(deps: Deps, request: FailoverRequest) -> str | None:
    """Post the approval message; on failure say why (the request is recorded regardless)."""
    try:
        deps.notifier.request_changed(request)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("could not post the approval message for %s: %s", request.id, error)
        return error
    except Exception:
        log.exception("could not post the approval message for %s", request.id)
        return "unexpected error"
    return None


LISTENERS = (Listener(Kind.VIEW, CALLBACK_ID, dialog_ack(_acknowledge), {SUBMIT: _submitter}),)
