"""The confirmation modal's submission: check the typed name at once, submit lazily."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, check_confirmation
from bot.service import FieldErrors, SubmitFailover
from bot.slack.actions import start_request
from bot.slack.lazy import SUBMIT
from bot.slack.listener import Kind, Listener, dialog_ack
from bot.slack.listener_deps import ListenerDeps
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
from bot.slack.submission import Submission
from bot.slack.view_state import input_value, text_cleaning

log = logging.getLogger(__name__)


def _submitter(deps: ListenerDeps) -> Callable[..., None]:
    def submit(body: dict[str, Any], client: WebClient) -> None:
        _submit(deps, body, client)

    return submit


def _checks(context: ModalContext, view: dict[str, Any]) -> dict[str, Refusal]:
    """The dialog's own checks (no I/O): the typed name and the reason."""
    return check_confirmation(context.hub, input_value(view, NAME_INPUT),
                              input_value(view, REASON_INPUT))


_SUBMISSION = Submission(ModalContext.load, _checks, NAME_INPUT, submitting_modal, error_modal,
                         "submit")
_acknowledge = _SUBMISSION.acknowledge


def _submit(deps: ListenerDeps, body: dict[str, Any], client: WebClient) -> None:
    """Always goes through the service, so a mismatch is audited like every refusal."""
    view = body["view"]

    def outcome(context: ModalContext) -> View | None:
        cmd = SubmitFailover(actor=deps.actors.resolve(body["user"]["id"]),
                             channel_id=context.channel, hub_name=context.hub, kind=context.kind,
                             typed_name=input_value(view, NAME_INPUT),
                             reason=input_value(view, REASON_INPUT),
                             expected_active_region=context.active,
                             key=str(view.get("id") or "") or None,  # a re-run finds its request
                             cleaned=text_cleaning(view, (NAME_INPUT, REASON_INPUT)))
        result = (deps.service.drill_asking.submit(cmd) if context.drill
                  else deps.service.asking.submit(cmd))
        if isinstance(result, FieldErrors):
            if _SUBMISSION.inline_errors(deps.service.access, cmd.actor.user_id, context, view):
                return None  # the ack already showed these inline
            return error_modal(context, " ".join(result.errors.values()))
        if isinstance(result, Refusal):
            return refusal_modal(context, result)
        shown = submitted_modal(context, result.request, _announce(deps, result.request))
        if result.request.status is RequestStatus.APPROVED:
            deps.executor.submit(start_request, deps, result.request.id)
        return shown

    _SUBMISSION.submit(body, client, outcome)


def _announce(deps: ListenerDeps, request: FailoverRequest) -> str | None:
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
