"""``/iothub drill <hub>`` (the dialog, or a schedule with ``--every`` / ``--at``, ended with
``--cancel``), ``/iothub drills``, and the **Stop drill** button (issue #23).

A hub not marked for drills is refused before any dialog opens: the answer says how to mark
it. Every other check is the dialog's, as for a failover (``bot.service.drill_asking``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.drill import Drill
from bot.domain.drill_schedule import DrillSchedule, new_schedule_id
from bot.domain.model import OperationKind
from bot.domain.rules import Refusal
from bot.slack import reports
from bot.slack.clicked import Click, on_click
from bot.slack.drill_blocks import STOP_DRILL, drill_modal, drills_blocks
from bot.slack.lazy import DECIDE
from bot.slack.listener import Kind, Listener, any_access
from bot.slack.listener_deps import ListenerDeps, failure_message
from bot.slack.modals import ModalContext, error_modal, loading_modal, refusal_modal
from bot.slack.parsing import RequestDrill
from bot.slack.text import said, when

log = logging.getLogger(__name__)
Answer = Callable[..., None]


def open_dialog(deps: ListenerDeps, client: WebClient, command: dict[str, Any],
                cmd: RequestDrill, answer: Answer) -> None:
    """Refused before any dialog when the hub is not marked; else the failover's dialog,
    with what the drill will do."""
    actor = deps.actors.resolve(command["user_id"])
    refusal = deps.service.drill_asking.refusal_before_dialog(actor, cmd.hub)
    if refusal is not None:
        answer(said(refusal.message), reports.refusal_blocks(refusal))
        return
    context = ModalContext(cmd.hub, OperationKind.FAILOVER, command["channel_id"], drill=True)
    try:
        opened = client.views_open(trigger_id=command["trigger_id"],
                                   view=loading_modal(context))
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        answer("Slack did not let me open the dialog in time; please run the command again.")
        return
    deps.executor.submit(_fill, deps, client, command, cmd, context, str(opened["view"]["id"]))


def _fill(deps: ListenerDeps, client: WebClient, command: dict[str, Any], cmd: RequestDrill,
          context: ModalContext, view_id: str) -> None:
    try:
        preview = deps.service.drill_asking.preview(deps.actors.resolve(command["user_id"]),
                                                    command["channel_id"], cmd.hub)
        if isinstance(preview, Refusal):
            view = refusal_modal(context, preview, deps.service.clock.now())
        else:
            hub = preview.failover.hub
            context = ModalContext(hub.name, OperationKind.FAILOVER, context.channel,
                                   hub.active_region, drill=True)
            view = drill_modal(context, preview, deps.service.time_scale)
    except Exception as exc:
        view = error_modal(context, failure_message(exc))
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        log.info("views.update failed: %s", exc.response.get("error"))


def schedule(deps: ListenerDeps, user: str, channel: str, cmd: RequestDrill,
             answer: Answer) -> None:
    """``--every`` / ``--at``: a schedule (the hub must be marked now, too); ``--cancel``."""
    service = deps.service
    if cmd.cancel:
        ended = service.drill_asking.cancel_schedules(cmd.hub)
        answer(f"Cancelled {ended} drill schedule{'s' if ended != 1 else ''} of `{cmd.hub}`."
               if ended else f"`{cmd.hub}` has no drill schedule.")
        return
    actor = deps.actors.resolve(user)
    refusal = (service.access.check_requester(actor, channel)
               or service.drill_asking.refusal_before_dialog(actor, cmd.hub))
    if refusal is not None:
        answer(said(refusal.message), reports.refusal_blocks(refusal))
        return
    now = service.clock.now()
    first = cmd.at if cmd.at is not None else now + (cmd.every or timedelta(0))
    if first <= now:
        answer(f"{when(first)} has passed: give a time to come (UTC).")
        return
    service.drill_asking.schedule(DrillSchedule(new_schedule_id(), cmd.hub, channel, user, now,
                                                "rehearsal on a schedule", first, cmd.every))
    how = (("every day" if cmd.every.days == 1 else f"every {cmd.every.days} days")
           if cmd.every else "once")
    answer(f"Scheduled: a drill of `{cmd.hub}` {how}, the first {when(first)}. At its time I "
           "ask for its approval here (a scheduled drill still needs an approver). "
           f"`/iothub drill {cmd.hub} --cancel` ends it.")


def list_drills(deps: ListenerDeps, answer: Answer) -> None:
    service = deps.service
    outlook = service.drill_reading.outlook()
    schedules = outlook.next
    last: dict[str, Drill] = {result.drill.hub: result.drill for result in outlook.last}
    try:
        marked = [h.name for h in service.gateway.list_hubs()
                  if service.drill_asking.marked(h) and h.name not in last]
    except Exception:  # the list is a nicety: the schedules and results stand without it
        marked = []
    answer(f"{len(schedules)} drill schedules", drills_blocks(schedules, last, sorted(marked)))


def _acknowledge(ack: Ack) -> None:
    ack()


def _stop(deps: ListenerDeps) -> Callable[..., None]:
    def stop(click: Click) -> None:
        result = deps.service.drilling.stop(deps.actors.resolve(click.user), click.value,
                                            click.on)
        if isinstance(result, Refusal):
            click.tell(said(result.message), reports.refusal_blocks(result))
            return
        click.tell(f"Stopped drill `{result.id}`: a leg not started is cancelled; a hub that "
                   "moved comes home as soon as Azure allows. The report says so.")

    return on_click(deps, stop)


LISTENERS = (Listener(Kind.ACTION, STOP_DRILL, any_access(_acknowledge), {DECIDE: _stop}),)
