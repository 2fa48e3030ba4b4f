"""``/iothub failover --region``: the regional dialog, opened at once and filled in the work
pool, and its submission (pure checks in the ack, the batch written in the lazy half)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.batch import check_region_confirmation
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.rules import Refusal
from bot.service import BatchFieldErrors, BatchSubmitted, SubmitBatch
from bot.slack.deps import Deps, failure_message
from bot.slack.lazy import SUBMIT, lazy_half
from bot.slack.parsing import RequestRegional
from bot.slack.region_modals import (
    EXCLUDE_INPUT,
    HUBS_INPUT,
    REASON_INPUT,
    REGION_CALLBACK_ID,
    REGION_INPUT,
    RegionContext,
    needs_all_eligible,
    region_confirm,
    region_error,
    region_loading,
    region_recording,
    region_refusal,
    region_submitted,
)
from bot.slack.text import printable
from bot.slack.view_state import STALE, input_state, input_value

log = logging.getLogger(__name__)

Answer = Callable[..., None]


def open_dialog(deps: Deps, client: WebClient, command: dict[str, Any], cmd: RequestRegional,
                answer: Answer) -> None:
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


def _fill(deps: Deps, client: WebClient, user: str, context: RegionContext,
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


def register(app: App, deps: Deps | None, access: Callable[[], AccessPolicy]) -> None:
    """Without ``deps`` (the front), the lazy half is only named: it runs elsewhere."""

    def acknowledge(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        _acknowledge(ack, view, access(), body["user"]["id"])

    app.view(REGION_CALLBACK_ID)(ack=acknowledge, lazy=[lazy_half(SUBMIT, deps, _submitter)])


def _submitter(deps: Deps) -> Callable[..., None]:
    def submit(body: dict[str, Any], client: WebClient) -> None:
        _submit(deps, body, client)

    return submit


def _selected(view: dict[str, Any]) -> list[str]:
    options = input_state(view, HUBS_INPUT).get("selected_options") or []
    return [printable(str(o.get("value") or "")) for o in options if isinstance(o, dict)]


def _inline_errors(access: AccessPolicy, user: str, context: RegionContext,
                   view: dict[str, Any]) -> dict[str, Refusal]:
    """The checks that need no I/O; the lazy half's submit makes (and audits) them again."""
    errors = check_region_confirmation(context.region, input_value(view, REGION_INPUT),
                                       input_value(view, REASON_INPUT))
    nobody = access.check_approvable(Actor(user))
    return {**errors, REGION_INPUT: nobody} if nobody else errors


def _acknowledge(ack: Ack, view: dict[str, Any], access: AccessPolicy, user: str) -> None:
    try:
        context = RegionContext.load(view.get("private_metadata") or "")
    except ValueError:
        ack(response_action="errors", errors={REGION_INPUT: STALE})
        return
    errors = _inline_errors(access, user, context, view)
    if errors:
        ack(response_action="errors", errors={k: r.message for k, r in errors.items()})
        return
    ack(response_action="update", view=region_recording(context))


def _command(deps: Deps, body: dict[str, Any], context: RegionContext) -> SubmitBatch:
    view = body["view"]
    excluded = [w for w in re.split(r"[\s,;]+", input_value(view, EXCLUDE_INPUT)) if w]
    return SubmitBatch(actor=deps.actors.resolve(body["user"]["id"]), channel_id=context.channel,
                       kind=context.kind, region=context.region,
                       typed_region=input_value(view, REGION_INPUT),
                       reason=input_value(view, REASON_INPUT), hubs=_selected(view),
                       all_eligible=context.all_eligible, excluded=excluded,
                       key=str(view.get("id") or "") or None)  # a re-run finds its batch


def _submit(deps: Deps, body: dict[str, Any], client: WebClient) -> None:
    """Always through the service, so a mismatch is audited like every refusal."""
    view = body["view"]
    try:
        context = RegionContext.load(view.get("private_metadata") or "")
    except ValueError:
        return
    try:
        cmd = _command(deps, body, context)
        result = deps.service.regional.submit(cmd)
        if isinstance(result, BatchFieldErrors):
            if _inline_errors(deps.service.access, cmd.actor.user_id, context, view):
                return  # the ack already showed these inline
            shown = region_error(context, " ".join(result.errors.values()))
        elif isinstance(result, Refusal):
            shown = region_refusal(context, result)
        else:
            shown = region_submitted(context, result, _post_board(deps, result))
    except Exception as exc:
        shown = region_error(context, failure_message(exc))
    try:
        client.views_update(view_id=view["id"], view=shown)
    except SlackApiError as exc:
        log.info("views.update after the regional submit failed: %s",
                 exc.response.get("error"))


def _post_board(deps: Deps, submitted: BatchSubmitted) -> str | None:
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
