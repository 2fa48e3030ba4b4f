"""Drills (issue #23) through the real Bolt app and the real SDKs, ARM emulated by
``responses`` (see ``verification_world.py``): a marked hub is drilled end to end with
exactly two POSTs, two verdicts and one report; an unmarked hub is refused before any
dialog; a drill never uses the day's last failover; Stop drill in each phase."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.drill import DrillStatus
from bot.domain.durations import minute_up
from bot.domain.model import AuditAction
from bot.store.base import AuditQuery

from .conftest import CHANNEL
from .verification_world import HUB, MOVE, MakeWorld, World

MARKED = {"failover-bot-drill": "allowed"}
COOLDOWN = timedelta(hours=1)


def _drill(world: World) -> str:
    """Ask for a drill through its dialog and approve it: the failover leg's request id."""
    world.bot.command(f"drill {HUB}")
    modal = list(world.bot.slack.views.values())[-1]
    world.bot.submit(modal)
    newest = world.bot.slack.messages(CHANNEL, top_level=True)[-1]
    request_id = next(e["value"] for b in newest.blocks if b["type"] == "actions"
                      for e in b["elements"] if e["action_id"] == "approve")
    world.bot.click("approve", request_id, message=newest)
    return request_id


def _drill_of(world: World, request_id: str):
    request = world.bot.service.reading.get_request(request_id)
    assert request is not None and request.drill_id
    drill = world.bot.service.drilling.get(request.drill_id)
    assert drill is not None
    return drill


def test_a_marked_hub_is_drilled_with_two_posts_two_verdicts_and_one_report(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    world.bot.command(f"drill {HUB}")
    dialog = json.dumps(list(world.bot.slack.views.values())[-1].view, ensure_ascii=False)
    assert "What the drill will do" in dialog and "Request drill" in dialog
    assert "1 failover and 1 failback will be left" in dialog

    first = _drill(world)
    world.rounds(world.clock.now() + MOVE + COOLDOWN / 2)
    drill = _drill_of(world, first)
    assert drill.status is DrillStatus.COOLING_DOWN and world.arm.requests["failover"] == 1
    world.bot.command(f"status {HUB}")
    status = json.dumps(world.bot.slack.responses[-1].body)
    assert f"Drill `{drill.id}` under way" in status and "cooling down" in status
    said = world.thread_text(first)
    assert drill.failback_at is not None
    assert f"The failback leg starts by itself at {minute_up(drill.failback_at):%H:%M} UTC" in said

    world.rounds(world.clock.now() + COOLDOWN / 2 + MOVE + timedelta(minutes=10))

    drill = _drill_of(world, first)
    assert drill.status is DrillStatus.DONE, drill
    assert world.arm.requests["failover"] == 2  # one POST a leg, the failback by itself
    verdicts = world.bot.service.reading.audit(AuditQuery(actions=frozenset(
        {AuditAction.VERIFIED, AuditAction.NOT_RECOVERED, AuditAction.UNVERIFIED})))
    assert sorted(e.kind.value for e in verdicts if e.kind) == ["failback", "failover"]
    report = drill.report or {}
    for leg in ("failover", "failback"):
        figures = report["legs"][leg]
        assert figures["verdict"] == "verified"
        assert figures["to_active_s"] > 0 and figures["to_verified_s"] > 0
        assert "to_accepted_s" in figures
    assert report["quota_used"] == {"failover": 1, "failback": 1}
    text = world.thread_text(first)
    assert text.count("Drill report") == 1
    assert "approval to Azure's acceptance" in text and "to devices verified" in text
    reports = [e for e in world.bot.service.reading.audit(AuditQuery(
        actions=frozenset({AuditAction.DRILL}))) if e.detail.get("report")]
    assert len(reports) == 1


def test_the_second_drill_compares_its_figures_with_the_first(make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady(hours=30)
    first = _drill(world)
    world.rounds(world.clock.now() + MOVE * 2 + COOLDOWN + timedelta(minutes=10),
                 step=timedelta(minutes=1))
    assert _drill_of(world, first).status is DrillStatus.DONE
    world.clock.advance(timedelta(hours=25))  # a day later: the quota is whole again
    world.steady(hours=4)

    second = _drill(world)
    world.rounds(world.clock.now() + MOVE * 2 + COOLDOWN + timedelta(minutes=10),
                 step=timedelta(minutes=1))

    drill = _drill_of(world, second)
    assert drill.status is DrillStatus.DONE
    assert (drill.report or {})["previous"] == _drill_of(world, first).id
    assert "than the last drill on" in world.thread_text(second) \
        or "as the last drill on" in world.thread_text(second)


def test_an_unmarked_hub_is_refused_before_any_dialog_saying_how_to_mark_it(
        make_world: MakeWorld) -> None:
    world = make_world()
    world.bot.command(f"drill {HUB}")
    assert world.bot.slack.calls("views.open") == []
    answer = json.dumps(world.bot.slack.responses[-1].body)
    assert "not marked for drills" in answer and "failover-bot-drill" in answer
    assert "BOT_DRILL_HUBS" in answer
    refused = world.bot.service.reading.audit(AuditQuery(actions=frozenset(
        {AuditAction.REFUSED})))
    assert refused and refused[0].detail["reason"] == "not_drillable"
    assert world.arm.requests["failover"] == 0


def test_a_drill_is_refused_when_it_would_use_the_days_last_failover(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=5))
    world.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=3))
    world.bot.command(f"drill {HUB}")
    shown = json.dumps(list(world.bot.slack.views.values())[-1].view, ensure_ascii=False)
    assert "never uses the day's last failover" in shown
    assert "Allowed again from" in shown
    assert world.arm.requests["failover"] == 0


def _stop(world: World, drill_id: str) -> None:
    """Click Stop drill on the drill's approval message, as an approver."""
    message = next(m for m in world.bot.slack.messages(CHANNEL, top_level=True)
                   if any(e.get("value") == drill_id for b in m.blocks if b["type"] == "actions"
                          for e in b["elements"] if e["action_id"] == "stop_drill"))
    world.bot.click("stop_drill", drill_id, message=message)


def _asked(world: World) -> str:
    world.bot.command(f"drill {HUB}")
    world.bot.submit(list(world.bot.slack.views.values())[-1])
    newest = world.bot.slack.messages(CHANNEL, top_level=True)[-1]
    return next(e["value"] for b in newest.blocks if b["type"] == "actions"
                for e in b["elements"] if e["action_id"] == "approve")


def test_stop_drill_before_approval_cancels_it_and_nothing_moves(make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    request_id = _asked(world)
    drill = _drill_of(world, request_id)

    _stop(world, drill.id)
    world.rounds(world.clock.now() + timedelta(minutes=2))

    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.STOPPED and drill.stopped_by
    assert world.arm.requests["failover"] == 0
    assert "Drill stopped" in world.thread_text(request_id)


def test_stop_drill_while_failing_over_brings_the_hub_home_as_soon_as_allowed(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    request_id = _drill(world)
    world.rounds(world.clock.now() + MOVE / 2)  # Azure is moving the hub
    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.FAILING_OVER

    _stop(world, drill.id)
    world.rounds(world.clock.now() + MOVE + COOLDOWN + MOVE + timedelta(minutes=10),
                 step=timedelta(minutes=1))

    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.DONE and drill.stopped_by
    assert world.arm.requests["failover"] == 2  # it moved, so it came home: once
    assert f"Stopped by <@{drill.stopped_by}>" in world.thread_text(request_id)


def test_stop_drill_in_the_cool_down_keeps_the_failback_at_the_earliest_time(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    request_id = _drill(world)
    world.rounds(world.clock.now() + MOVE + timedelta(minutes=5))
    before = _drill_of(world, request_id)
    assert before.status is DrillStatus.COOLING_DOWN

    _stop(world, before.id)
    world.rounds(world.clock.now() + COOLDOWN + MOVE + timedelta(minutes=10),
                 step=timedelta(minutes=1))

    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.DONE and drill.failback_at == before.failback_at
    back = world.bot.service.reading.get_request(drill.failback_request_id or "")
    assert back is not None and back.started_at is not None
    assert before.failback_at is not None and back.started_at >= before.failback_at
    assert world.arm.requests["failover"] == 2


def test_stop_drill_while_failing_back_changes_nothing_but_the_report(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    request_id = _drill(world)
    world.rounds(world.clock.now() + MOVE + COOLDOWN + timedelta(minutes=2),
                 step=timedelta(minutes=1))
    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.FAILING_BACK

    _stop(world, drill.id)
    world.rounds(world.clock.now() + MOVE + timedelta(minutes=10), step=timedelta(minutes=1))

    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.DONE and drill.stopped_by
    assert world.arm.requests["failover"] == 2
    assert world.thread_text(request_id).count("Drill report") == 1


def test_a_schedule_is_kept_listed_and_cancelled_from_slack(make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.bot.command(f"drill {HUB} --every 90d")
    said = json.dumps(world.bot.slack.responses[-1].body)
    assert "Scheduled: a drill of `contoso-hub` every 90 days" in said

    world.bot.command("drills")
    listed = json.dumps(world.bot.slack.responses[-1].body)
    assert "Scheduled drills" in listed and "contoso-hub" in listed and "every 90d" in listed
    assert "never drilled" in listed

    world.bot.command(f"drill {HUB} --cancel")
    assert "Cancelled 1 drill schedule of `contoso-hub`" in json.dumps(
        world.bot.slack.responses[-1].body)
    world.bot.command("drills")
    listed_now = world.bot.slack.responses[-1].body["blocks"][0]["text"]["text"]
    assert "*Scheduled drills*\n• none" in listed_now
    scheduled = [e for e in world.bot.service.reading.audit(AuditQuery(
        actions=frozenset({AuditAction.DRILL}))) if e.detail.get("note") == "scheduled"]
    assert len(scheduled) == 1


def test_an_unmarked_hub_cannot_be_scheduled_either(make_world: MakeWorld) -> None:
    world = make_world()
    world.bot.command(f"drill {HUB} --every 90d")
    assert "not marked for drills" in json.dumps(world.bot.slack.responses[-1].body)
    with world.bot.service.uow() as uow:
        assert uow.drills.schedules() == []


def test_a_failed_leg_stops_the_drill_and_the_report_says_so_in_azures_words(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    world.arm.fail_next_operation(HUB, "InternalServerError",
                                  "The failover could not be completed in the paired region.")
    request_id = _drill(world)

    world.rounds(world.clock.now() + MOVE + COOLDOWN, step=timedelta(minutes=1))

    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.FAILED
    assert world.arm.requests["failover"] == 1  # no failback of a hub that did not move
    text = world.thread_text(request_id)
    assert "Drill failed" in text
    assert "The failover could not be completed in the paired region" in text
    assert "InternalServerError" in text


def test_a_failover_used_before_the_approval_makes_the_drill_wait(make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    request_id = _asked(world)
    # Someone fails the hub over and back in the portal before the drill is approved.
    world.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(minutes=0))
    world.clock.advance(timedelta(minutes=2))  # past the Activity Log's cache

    newest = world.bot.slack.messages(CHANNEL, top_level=True)[-1]
    world.bot.click("approve", request_id, message=newest)

    request = world.bot.service.reading.get_request(request_id)
    assert request is not None and request.status.value == "awaiting_approval"
    assert world.arm.requests["failover"] == 0
    refused = world.bot.service.reading.audit(AuditQuery(actions=frozenset(
        {AuditAction.REFUSED})))
    assert refused and refused[0].detail["reason"] == "drill_quota"


def test_a_line_slack_did_not_take_is_told_later_and_the_drill_goes_on(
        make_world: MakeWorld) -> None:
    world = make_world(tags=MARKED)
    world.steady()
    request_id = _drill(world)
    world.rounds(world.clock.now() + MOVE - timedelta(seconds=30))
    world.bot.slack.fail_next("chat.postMessage", "fatal_error", times=6)  # Slack is down

    world.rounds(world.clock.now() + MOVE + COOLDOWN + MOVE + timedelta(minutes=10),
                 step=timedelta(minutes=1))

    drill = _drill_of(world, request_id)
    assert drill.status is DrillStatus.DONE and drill.untold is None
    assert world.arm.requests["failover"] == 2  # the failback did not wait for Slack
    text = world.thread_text(request_id)
    assert text.count("The failback leg starts by itself") == 1
    assert text.count("Drill report") == 1
    tried = [c for c in world.bot.slack.calls("chat.postMessage")
             if "The failback leg starts by itself" in str(c.params.get("text"))]
    assert len(tried) > 1  # Slack refused it at first: it was told again, once it took it
