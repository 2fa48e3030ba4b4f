"""``/iothub failover --region``: the regional dialog, opened at once and filled in the work
pool, and its submission (pure checks in the ack, the batch written in the lazy half)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot.domain.batch import check_region_confirmation, listed_names
from bot.domain.rules import Refusal
from bot.service import BatchFieldErrors, BatchSubmitted, SubmitBatch
from bot.slack.lazy import SUBMIT
from bot.slack.listener import Kind, Listener, dialog_ack
from bot.slack.listener_deps import ListenerDeps, failure_message
from bot.slack.parsing import RequestRegional
from bot.slack.region_modals import (
    EXCLUDE_INPUT,
    HUBS_INPUT,
    REASON_INPUT,
    REGION_CALLBACK_ID,
    REGION_INPUT,
    RegionContext,
    Typed,
    needs_all_eligible,
    region_confirm,
    region_error,
    region_loading,
    region_recording,
    region_refusal,
    region_submitted,
)
from bot.slack.submission import Submission
from bot.slack.view_state import (
    cleaning,
    input_text,
    input_value,
    selected_values,
)

log = logging.getLogger(__name__)

Answer = Callable[..., None]


def open_dialog(deps: ListenerDeps, client: WebClient, command: dict[str, Any],
                cmd: RequestRegional, answer: Answer) -> None:
    """views.open before anything slow (the trigger id lives 3 s), then fill it in."""
    context = RegionContext(cmd.region, cmd.kind, command["channel_id"])
    try:
        opened = client.views_open(trigger_id=command["trigger_id"],
                                   view=region_loading(context))
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        answer("Slack did not let me open the dialog in time; please run the command again.")
        return
    deps.executor.submit(_fill, deps, client, command["user_id"], context,
                         str(opened["view"]["id"]))


def _fill(deps: ListenerDeps, client: WebClient, user: str, context: RegionContext,
          view_id: str) -> None:
    """In the work pool: every hub of the region, read live, with its eligibility."""
    try:
        preview = deps.service.regional.preview(deps.actors.resolve(user), context.channel,
                                                context.region, context.kind)
        if isinstance(preview, Refusal):
            view = region_refusal(context, preview)
        else:
            context = RegionContext(preview.region, preview.kind, context.channel,
                                    needs_all_eligible(preview))
            view = region_confirm(context, preview, deps.service.clock.now())
    except Exception as exc:
        view = region_error(context, failure_message(exc))
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:  # closed meanwhile, or Slack refused the view
        log.info("views.update of the regional dialog failed: %s", exc.response.get("error"))


def _submitter(deps: ListenerDeps) -> Callable[..., None]:
    def submit(body: dict[str, Any], client: WebClient) -> None:
        _submit(deps, body, client)

    return submit


def _checks(context: RegionContext, view: dict[str, Any]) -> dict[str, Refusal]:
    """The dialog's own checks (no I/O): the typed region, the reason, the hubs left out."""
    return check_region_confirmation(context.region, input_value(view, REGION_INPUT),
                                     input_value(view, REASON_INPUT),
                                     input_value(view, EXCLUDE_INPUT))


_SUBMISSION = Submission(RegionContext.load, _checks, REGION_INPUT, region_recording,
                         region_error, "the regional submit")
_acknowledge = _SUBMISSION.acknowledge


def _command(deps: ListenerDeps, body: dict[str, Any], context: RegionContext) -> SubmitBatch:
    view = body["view"]
    selected = selected_values(view, HUBS_INPUT)
    typed = {key: [input_text(view, key)] for key in (REGION_INPUT, REASON_INPUT, EXCLUDE_INPUT)}
    return SubmitBatch(actor=deps.actors.resolve(body["user"]["id"]), channel_id=context.channel,
                       kind=context.kind, region=context.region,
                       typed_region=input_value(view, REGION_INPUT),
                       reason=input_value(view, REASON_INPUT), hubs=[h.text for h in selected],
                       all_eligible=context.all_eligible,
                       leave_out=input_value(view, EXCLUDE_INPUT),
                       key=str(view.get("id") or "") or None,  # a re-run finds its batch
                       cleaned=cleaning({**typed, HUBS_INPUT: selected}))


def _again(deps: ListenerDeps, cmd: SubmitBatch, context: RegionContext,
           refused: BatchFieldErrors) -> View | None:
    """The dialog again, fresh from the region's hubs just read, with what was typed and why
    it came back (Slack's inline errors are only for the ack, which cannot read Azure)."""
    preview = refused.preview
    if preview is None:
        return None
    chosen = {h.lower() for h in cmd.hubs}
    if cmd.all_eligible:
        skip = {h.lower() for h in listed_names(cmd.leave_out)}
        chosen = {c.hub.name.lower() for c in preview.eligible} - skip
    again = RegionContext(preview.region, preview.kind, context.channel,
                          needs_all_eligible(preview))
    typed = Typed(cmd.reason, cmd.typed_region, cmd.leave_out, frozenset(chosen))
    return region_confirm(again, preview, deps.service.clock.now(), typed, refused.errors)


def _submit(deps: ListenerDeps, body: dict[str, Any], client: WebClient) -> None:
    """Always through the service, so a mismatch is audited like every refusal."""

    def outcome(context: RegionContext) -> View | None:
        cmd = _command(deps, body, context)
        result = deps.service.regional.submit(cmd)
        if isinstance(result, BatchFieldErrors):
            again = _again(deps, cmd, context, result)
            if again is None and _SUBMISSION.inline_errors(deps.service.access,
                                                           cmd.actor.user_id, context,
                                                           body["view"]):
                return None  # the ack already showed these inline
            return again or region_error(context, " ".join(result.errors.values()))
        if isinstance(result, Refusal):
            return region_refusal(context, result)
        return region_submitted(context, result, _post_board(deps, result))

    _SUBMISSION.submit(body, client, outcome)


def _post_board(deps: ListenerDeps, submitted: BatchSubmitted) -> str | None:
    """Post the batch's approval message (its board to be); on failure say why (the batch
    is recorded regardless, and its board keeper cannot edit what was never posted)."""
    try:
        board = deps.service.boards.board(submitted.batch.id)
        if board is not None:
            deps.boards.show_board(board)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("could not post the board of %s: %s", submitted.batch.id, error)
        return error
    except Exception:
        log.exception("could not post the board of %s", submitted.batch.id)
        return "unexpected error"
    return None


LISTENERS = (Listener(Kind.VIEW, REGION_CALLBACK_ID, dialog_ack(_acknowledge),
                      {SUBMIT: _submitter}),)
