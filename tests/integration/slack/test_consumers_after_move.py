"""The consumers of the old endpoint (issue #22): listed before approval, restarted once after
Succeeded, each result in the thread and the audit log — through the real Bolt app and the
real azure-mgmt-web / azure-mgmt-streamanalytics SDKs (see ``verification_world.py``)."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.model import AuditAction
from bot.store.base import AuditQuery

from .verification_world import CONSUMERS_TAG, HUB, MOVE, MakeWorld, World

OPTED_IN = {"failover-bot-consumers": CONSUMERS_TAG, "failover-bot-restart-consumers": "true"}
PLAN = "then restart func-telemetry (Function app) and asa-alerts (Stream Analytics job)"


def _consumer_events(world: World) -> list:
    return world.bot.service.reading.audit(AuditQuery(actions=frozenset({AuditAction.CONSUMER})))


def _with_consumers(make_world: MakeWorld, tags: dict[str, str] = OPTED_IN) -> World:
    world = make_world(tags=tags)
    world.consumers.add_function_app("func-telemetry")
    world.consumers.add_job("asa-alerts")
    world.baseline()
    return world


def test_the_dialog_and_the_approval_list_the_restarts_that_approving_approves(
        make_world: MakeWorld) -> None:
    world = _with_consumers(make_world)

    modal = world.bot.open_modal(HUB)
    shown = json.dumps(modal.view["blocks"])
    assert PLAN in shown

    world.bot.submit(modal)
    approval = json.dumps(world.bot.approval_message().blocks)
    assert PLAN in approval and "Approving this request approves these restarts" in approval
    assert world.consumers.sent == []  # nothing is done before the move


def test_each_consumer_is_restarted_once_after_succeeded_with_its_result_in_the_thread(
        make_world: MakeWorld) -> None:
    world = _with_consumers(make_world)
    request_id = world.request_and_approve()
    world.rounds(world.clock.now() + MOVE / 2)
    assert world.consumers.sent == []  # not while Azure is still moving the hub

    world.rounds(world.clock.now() + MOVE + timedelta(minutes=5))

    assert world.consumers.sites == {"func-telemetry": 1}
    assert world.consumers.requests_on("stop") == 1 and world.consumers.requests_on("start") == 1
    assert world.consumers.jobs["asa-alerts"].started_with == [
        {"outputStartMode": "LastOutputEventTime"}]
    text = world.thread_text(request_id)
    assert "Restarted func-telemetry (Function app) in" in text
    assert "Restarted asa-alerts (Stream Analytics job) in" in text
    assert "from its last output" in text
    events = _consumer_events(world)
    assert sorted(e.detail["outcome"] for e in events) == ["restarted", "restarted"]
    assert {e.request_id for e in events} == {request_id}

    world.rounds(world.clock.now() + timedelta(minutes=30))  # later rounds do nothing again
    assert world.consumers.sites == {"func-telemetry": 1}
    assert world.consumers.requests_on("stop") == 1
    assert world.thread_text(request_id).count("Restarted ") == 2
    assert len(_consumer_events(world)) == 2


def test_a_consumer_azure_refuses_is_reported_in_its_words_and_blocks_nothing(
        make_world: MakeWorld) -> None:
    world = _with_consumers(make_world)
    world.consumers.fail_next("asa-alerts", "stop", "JobOperationFailed",
                              "The streaming job is in a failed state.")
    request_id = world.request_and_approve()

    world.rounds(world.clock.now() + MOVE + timedelta(minutes=5))

    text = world.thread_text(request_id)
    assert "Restarted func-telemetry (Function app)" in text
    assert "The streaming job is in a failed state" in text
    outcomes = {e.detail["consumer"].rsplit("/", 1)[1]: e.detail["outcome"]
                for e in _consumer_events(world)}
    assert outcomes == {"func-telemetry": "restarted", "asa-alerts": "failed"}
    request = world.bot.service.reading.get_request(request_id)
    assert request is not None and request.status.value == "succeeded"


def test_consumers_not_opted_in_are_listed_to_restart_by_hand_and_never_touched(
        make_world: MakeWorld) -> None:
    world = _with_consumers(make_world, {"failover-bot-consumers": CONSUMERS_TAG})
    modal = world.bot.open_modal(HUB)
    assert "consumers to restart by hand: func-telemetry (Function app)" in json.dumps(
        modal.view["blocks"])
    world.bot.submit(modal)
    world.bot.click("approve", world.bot.approval_buttons()["approve"])

    world.rounds(world.clock.now() + MOVE + timedelta(minutes=5))

    assert world.consumers.sent == [] and _consumer_events(world) == []
