"""Drill: Socket Mode end to end. The real ``serve`` processes connect out to a local Socket
Mode endpoint (the URL the fake Web API's ``apps.connections.open`` hands out), get ``hello``,
and are sent a slash command, a view submission and a block action as envelopes; each is
acknowledged with its ``envelope_id`` within Slack's 3 s, and the failover runs to completion
through the fake ARM, as over HTTP."""

from __future__ import annotations

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus

from .conftest import HUB
from .serve_harness import WAIT, Drill, request_id_of
from .socket_mode_server import Bridge, SocketModeServer

pytestmark = pytest.mark.process_drill


def test_a_failover_from_slash_command_to_completion_over_socket_mode(drill: Drill) -> None:
    with SocketModeServer() as endpoint, Bridge(endpoint) as bridge:
        drill.start_bot_in_socket_mode(endpoint.url, bridge.url)
        assert endpoint.wait_connected(WAIT)

        approval = drill.request_failover()  # a slash command, then the dialog's submission
        request_id = request_id_of(approval)
        drill.approve(approval)  # Bob's click
        drill.wait_for("the failover POST", lambda: drill.arm.failover_posts(HUB) == 1)
        drill.arm.finish_operation(HUB)

        def announced() -> bool:
            row = drill.row(request_id)
            return (row.status == RequestStatus.SUCCEEDED
                    and row.notified_version >= row.version
                    and bool(drill.completion_posts(approval)))

        drill.wait_for("the completion to be posted and recorded", announced)

    kinds = [(e["type"], e["payload"].get("type") or e["payload"].get("command"))
             for e in endpoint.envelopes]
    assert kinds == [("slash_commands", "/iothub"), ("interactive", "view_submission"),
                     ("interactive", "block_actions")]
    # Each envelope acknowledged, once, with its own id, in order.
    assert [a["envelope_id"] for a in endpoint.acks] == \
        [e["envelope_id"] for e in endpoint.envelopes]
    submission_ack = endpoint.acks[1]
    assert submission_ack["payload"]["response_action"] == "update"
    assert endpoint.connections == 1

    assert drill.arm.failover_posts(HUB) == 1
    assert drill.arm.active_region(HUB) == "North Europe"
    completions = drill.completion_posts(approval)
    assert len(completions) == 1 and "succeeded" in completions[0].text, completions
    events = drill.audit(request_id)
    assert events.count(AuditAction.STARTED) == 1 and AuditAction.SUCCEEDED in events, events
    # Nothing reached the bot over HTTP: its port served health checks only.
    served = [r["message"] for r in drill.log_records() if r.get("logger") == "uvicorn.access"]
    assert served and not any("/slack/events" in line for line in served), served
