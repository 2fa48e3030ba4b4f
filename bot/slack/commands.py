"""``/iothub``, ``/failover`` and ``/failback``: ack at once; the lazy halves do the work
(in a worker process when the bot serves Slack, see ``bot.slack.lazy``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot.domain.model import OperationKind
from bot.domain.rules import Refusal, RefusalReason
from bot.domain.user_text import clean
from bot.slack import drill_commands, region_dialog, reports
from bot.slack.lazy import ANSWER, OPEN_DIALOG, WANTED_HALVES, Half
from bot.slack.listener import Kind, Listener, any_access
from bot.slack.listener_deps import ListenerDeps, failure_message, guarded
from bot.slack.modals import ModalContext, confirm_modal, error_modal, loading_modal, refusal_modal
from bot.slack.parsing import (
    CancelRequest,
    Command,
    ListDrills,
    ListHubs,
    RequestDrill,
    RequestOperation,
    RequestRegional,
    ShowAudit,
    ShowHelp,
    ShowStatus,
    Usage,
    parse_command,
)
from bot.slack.running import running_summary, thread_link
from bot.slack.text import escape, said
from bot.store.base import AuditQuery

log = logging.getLogger(__name__)

COMMANDS = {"/iothub": None, "/failover": "failover", "/failback": "failback"}


def _text(command: dict[str, Any]) -> str:
    return clean(str(command.get("text") or "")).text


def _audit_cleaned(deps: ListenerDeps, command: dict[str, Any]) -> None:
    """Characters removed from the command's text (bidi, zero-width…) go in the audit log."""
    typed = clean(str(command.get("text") or ""))
    if typed.changed:
        deps.service.refusals.record_cleaned({"command": typed.changes()}, command["user_id"])


def _acknowledge(default: str | None) -> Callable[..., None]:
    """Parse and ack, nothing else: help and usage errors are answered in the ack itself."""

    def acknowledge(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        parsed = parse_command(_text(command), default=default)
        context[WANTED_HALVES] = _wanted_halves(parsed)
        if isinstance(parsed, Usage | ShowHelp):
            problem = parsed.problem if isinstance(parsed, Usage) else None
            # The problem quotes what the user typed: escaped, so "<!channel>" pings nobody.
            ack(text=escape(problem or "How to use /iothub"),
                blocks=reports.help_blocks(problem),
                response_type="ephemeral")
            return
        ack()

    return acknowledge


def _dialog(parsed: Command | Usage) -> bool:
    """Commands that open a dialog (a drill with a schedule only answers)."""
    return isinstance(parsed, RequestOperation | RequestRegional) or (
        isinstance(parsed, RequestDrill) and not (parsed.every or parsed.at or parsed.cancel))


def _wanted_halves(parsed: Command | Usage) -> frozenset[Half]:
    """Which lazy halves have work to do for this command (see ``_open_dialog``, ``_answer``)."""
    if _dialog(parsed):
        return frozenset({OPEN_DIALOG})
    if isinstance(parsed, ShowHelp) or (isinstance(parsed, Usage) and not parsed.problem):
        return frozenset()
    return frozenset({ANSWER})  # a usage error is audited there


def _open_dialog(deps: ListenerDeps, default: str | None) -> Callable[..., None]:
    """After the ack, for failover and failback: its own lazy half, so that it can be run
    ahead of other work (the trigger id lives 3 s and works once)."""

    def open_dialog(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        parsed = parse_command(_text(command), default=default)
        if isinstance(parsed, RequestOperation):
            _open_modal(deps, client, command, parsed, respond)
        elif isinstance(parsed, RequestRegional):
            region_dialog.open_dialog(deps, client, command, parsed, _answerer(respond))
        elif isinstance(parsed, RequestDrill) and _dialog(parsed):
            drill_commands.open_dialog(deps, client, command, parsed, _answerer(respond))
        else:
            return
        _audit_cleaned(deps, command)  # after views.open: the trigger id lives 3 s

    return open_dialog


def _answer(deps: ListenerDeps, default: str | None) -> Callable[..., None]:
    """After the ack: everything that reads Azure or the database, answered via response_url."""

    def answer(command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        parsed = parse_command(_text(command), default=default)
        if not (isinstance(parsed, ShowHelp) or _dialog(parsed)):
            _audit_cleaned(deps, command)
        if isinstance(parsed, Usage) and parsed.problem:
            # Bad input is a refusal like any other: it goes in the audit log.
            refusal = Refusal(RefusalReason.MALFORMED_COMMAND,
                              f"{command.get('command', '/iothub')} "
                              f"{_text(command)[:200]}: {parsed.problem}")
            deps.service.refusals.record_refusal(refusal, command["user_id"])
        elif not (isinstance(parsed, Usage | ShowHelp) or _dialog(parsed)):
            _handle(deps, parsed, command, respond, client)

    return answer


def _answerer(respond: Respond) -> Answer:
    def answer(text: str, blocks: list[Block] | None = None) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    return answer


def _handle(deps: ListenerDeps, parsed: Command, command: dict[str, Any], respond: Respond,
            client: WebClient) -> None:
    answer = _answerer(respond)
    user, channel = command["user_id"], command["channel_id"]
    run = guarded(answer)
    if isinstance(parsed, ShowStatus):
        run(lambda: _status(deps, client, user, parsed, answer))
    elif isinstance(parsed, ListHubs):
        run(lambda: _list(deps, parsed, answer))
    elif isinstance(parsed, ShowAudit):
        run(lambda: _audit(deps, parsed, answer))
    elif isinstance(parsed, CancelRequest):
        run(lambda: _cancel(deps, client, user, channel, parsed, answer))
    elif isinstance(parsed, RequestDrill):
        run(lambda: drill_commands.schedule(deps, user, channel, parsed, answer))
    elif isinstance(parsed, ListDrills):
        run(lambda: drill_commands.list_drills(deps, answer))


Answer = Callable[..., None]


def _refused(answer: Answer, refusal: Refusal) -> None:
    answer(said(refusal.message), reports.refusal_blocks(refusal))


def _status(deps: ListenerDeps, client: WebClient, user: str, cmd: ShowStatus,
            answer: Answer) -> None:
    status = deps.service.reading.status(cmd.hub, deps.actors.resolve(user))
    if isinstance(status, Refusal):
        return _refused(answer, status)
    req = status.open_request
    link = thread_link(client, req) if req else None
    text = f"{status.hub.name}: active in {status.hub.active_region}"
    if req:
        text = f"{running_summary(req, deps.service.clock.now())}\n{text}"
    answer(text, reports.status_blocks(status, deps.service.clock.now(), link,
                                       deps.service.time_scale))


def _list(deps: ListenerDeps, cmd: ListHubs, answer: Answer) -> None:
    page = deps.service.reading.list_hubs(cmd.page)
    if isinstance(page, Refusal):
        return _refused(answer, page)
    answer(f"{page.total} IoT Hubs", reports.hub_list_blocks(page))


def _audit(deps: ListenerDeps, cmd: ShowAudit, answer: Answer) -> None:
    size = reports.AUDIT_PAGE_SIZE
    since = deps.service.clock.now() - cmd.since if cmd.since else None
    kind = next(iter(cmd.kinds)) if len(cmd.kinds) == 1 else None
    query = AuditQuery(hub=cmd.hub, user=cmd.user, kind=kind, actions=cmd.actions, since=since,
                       batch_id=cmd.batch, limit=size + 1, offset=(cmd.page - 1) * size)
    events = deps.service.reading.audit(query)
    answer(f"{min(len(events), size)} audit events",
           reports.audit_blocks(events[:size], cmd.page, len(events) > size))


def _cancel(deps: ListenerDeps, client: WebClient, user: str, channel: str, cmd: CancelRequest,
            answer: Answer) -> None:
    outcome = deps.service.deciding.cancel(deps.actors.resolve(user), cmd.request_id).outcome
    if not isinstance(outcome, Refusal):
        answer(f"Cancelled `{outcome.id}`; nothing was started.")
        deps.notifier.request_changed(outcome)
        return None
    if outcome.request:  # already running: say what runs, not just "no"
        link = thread_link(client, outcome.request)
        return answer(said(outcome.message), reports.refusal_blocks(
            outcome, deps.service.clock.now(), link))
    return _refused(answer, outcome)


def _open_modal(deps: ListenerDeps, client: WebClient, command: dict[str, Any],
                cmd: RequestOperation, respond: Respond) -> None:
    opened = _open_loading(client, command, cmd, _answerer(respond))
    if opened:
        deps.executor.submit(_fill_modal, deps, client, command, cmd, *opened)


def _open_loading(client: WebClient, command: dict[str, Any], cmd: RequestOperation,
                  answer: Answer) -> tuple[ModalContext, str] | None:
    """views.open before anything slow: the trigger id lives 3 s and works once."""
    context = ModalContext(cmd.hub, cmd.kind, command["channel_id"])
    try:
        opened = client.views_open(trigger_id=command["trigger_id"], view=loading_modal(context))
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        answer("Slack did not let me open the dialog in time; please run the command again.")
        return None
    return context, str(opened["view"]["id"])


def _fill_modal(deps: ListenerDeps, client: WebClient, command: dict[str, Any],
                cmd: RequestOperation, context: ModalContext, view_id: str) -> None:
    """In the work pool: read Azure and the quota, then fill the opened dialog in."""
    try:
        preview = deps.service.asking.preview(deps.actors.resolve(command["user_id"]),
                                       command["channel_id"], cmd.hub, OperationKind(cmd.kind))
        if isinstance(preview, Refusal):
            link = thread_link(client, preview.request) if preview.request else None
            estimate = (deps.service.hubs.estimate(preview.request.device_count)
                        if preview.request else None)
            view = refusal_modal(context, preview, deps.service.clock.now(), link, estimate)
        else:
            context = replace(context, hub=preview.hub.name, active=preview.hub.active_region)
            view = confirm_modal(context, preview, deps.service.time_scale)
    except Exception as exc:
        view = error_modal(context, failure_message(exc))
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:  # the user closed the dialog meanwhile
        log.info("views.update failed: %s", exc.response.get("error"))


def _listener(name: str, default: str | None) -> Listener:
    return Listener(Kind.COMMAND, name, any_access(_acknowledge(default)), {
        OPEN_DIALOG: partial(_open_dialog, default=default),
        ANSWER: partial(_answer, default=default)})


LISTENERS = tuple(_listener(name, default) for name, default in COMMANDS.items())
