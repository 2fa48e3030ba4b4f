"""Every move ends with a verdict read from Azure Monitor (issue #22), through the real Bolt
app and the real SDKs (see ``verification_world.py``)."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.model import AuditAction
from bot.domain.verification import MINUTE, ceil_minute
from bot.domain.verification_state import VerifyStatus
from bot.store.base import AuditQuery

from .verification_world import DEVICES, MOVE, MakeWorld, World


def _verdicts(world: World) -> list:
    return world.bot.service.reading.audit(AuditQuery(actions=frozenset(
        {AuditAction.VERIFIED, AuditAction.NOT_RECOVERED, AuditAction.UNVERIFIED})))


def _completed(world: World, request_id: str):
    request = world.bot.service.reading.get_request(request_id)
    assert request is not None and request.completed_at is not None
    return request.completed_at


def test_devices_that_come_back_are_verified_with_the_figures_the_minutes_show(
        make_world: MakeWorld) -> None:
    world: World = make_world()
    world.baseline()
    request_id = world.request_and_approve()
    world.rounds(world.clock.now() + MOVE + timedelta(minutes=1))
    done = _completed(world, request_id)
    first = ceil_minute(done)
    completion = json.dumps([m.blocks for m in world.thread(request_id)])
    assert "the verdict follows in this thread" in completion
    assert _verdicts(world) == []  # Succeeded is not yet a verdict
    # Reconnecting over four minutes, then two minutes at 9,812 of 10,040 (97.7 %).
    world.after(first, [2_000, 6_000, 9_000, 9_700, 9_812, 9_812, 9_812, 9_812],
                [20_000, 40_000, 55_000, 57_000, 57_600, 57_600, 57_600, 57_600])

    world.rounds(first + 10 * MINUTE)

    text = world.thread_text(request_id)
    assert text.index("succeeded") < text.index("Verified:")  # the thread reads in order
    assert "Verified: 9,700 of 10,040 devices connected again (96.6 %)" not in text
    assert "Verified: 9,812 of 10,040 devices connected again (97.7 %) 5 min after the " \
           "failover; telemetry at 96 % of the hour before." in text
    events = _verdicts(world)
    assert [e.action for e in events] == [AuditAction.VERIFIED]
    assert events[0].detail["devices"] == 9_812 and events[0].detail["baseline_devices"] == DEVICES
    verification = world.bot.service.reading.verification(request_id)
    assert verification is not None and verification.status is VerifyStatus.VERIFIED
    # The baseline's two reads, then a look as each minute settles (two reads each), from the
    # second minute after the move to the verdict: no read storm, no look wasted.
    assert verification.reads == 2 + 2 * 4


def test_devices_at_40_percent_are_not_recovered_when_the_window_ends(
        make_world: MakeWorld) -> None:
    world: World = make_world()
    world.baseline()
    request_id = world.request_and_approve()
    world.rounds(world.clock.now() + MOVE + timedelta(minutes=1))
    first = ceil_minute(_completed(world, request_id))
    world.after(first, [4_016] * 20, [24_000] * 20)

    world.rounds(first + 10 * MINUTE)
    assert _verdicts(world) == []  # 10 minutes in: still watching, nothing said yet
    world.rounds(first + 20 * MINUTE)

    text = world.thread_text(request_id)
    assert "Not recovered after 15 min: 4,016 of 10,040 devices (40 %) connected" in text
    assert [e.action for e in _verdicts(world)] == [AuditAction.NOT_RECOVERED]
    posted = [c.params for c in world.bot.slack.calls("chat.postMessage")
              if "Not recovered" in str(c.params.get("text"))]
    assert [p.get("reply_broadcast") for p in posted if p.get("thread_ts")] == [True]
    world.bot.command("status contoso-hub")
    status = json.dumps(world.bot.slack.responses[-1].body, ensure_ascii=False)
    assert f"Last verification: `{request_id}` failover: Not recovered after 15 min" in status


def test_forbidden_metrics_say_could_not_verify_with_azures_words(make_world: MakeWorld) -> None:
    world: World = make_world()
    world.baseline()
    for _ in range(4):
        world.metrics.answer_next_with(
            403, "AuthorizationFailed", "The client 'bot' does not have authorization to "
            "perform action 'Microsoft.Insights/metrics/read' over scope '/subscriptions/x'.")
    request_id = world.request_and_approve()

    world.rounds(world.clock.now() + MOVE + timedelta(minutes=5))

    text = world.thread_text(request_id)
    assert "Could not verify:" in text and "Microsoft.Insights/metrics/read" in text
    assert "AuthorizationFailed" in text
    assert [e.action for e in _verdicts(world)] == [AuditAction.UNVERIFIED]
    assert "Verified" not in text


def test_partial_and_late_minutes_are_not_evidence(make_world: MakeWorld) -> None:
    # Azure's minutes fill in over two minutes here: a young minute's Total is partial and its
    # Average missing. The bot must wait for them rather than judge on the part it sees.
    world: World = make_world(late=timedelta(minutes=2))
    world.baseline()
    request_id = world.request_and_approve()
    world.rounds(world.clock.now() + MOVE + timedelta(minutes=1))
    done = _completed(world, request_id)
    first = ceil_minute(done)
    world.after(first - MINUTE, [9_900] * 12, [59_000] * 12)  # the mixed minute looks fine

    world.rounds(first + 3 * MINUTE)
    assert _verdicts(world) == []  # the two whole minutes after are not settled yet
    world.rounds(first + 8 * MINUTE)

    events = _verdicts(world)
    assert [e.action for e in events] == [AuditAction.VERIFIED]
    judged = events[0].detail["minute"]
    assert judged >= (first + MINUTE).isoformat()  # never the mixed minute, nor the first
