"""Which hubs may be drilled, when a schedule asks next, and a report's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.drill import marked_for_drills
from bot.domain.drill_report import compared
from bot.domain.drill_schedule import DrillSchedule

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def test_a_hub_is_marked_by_its_tag_or_by_configuration_and_nothing_else() -> None:
    assert marked_for_drills("hub-a", {"failover-bot-drill": "allowed"}, ())
    assert marked_for_drills("hub-a", {"Failover-Bot-Drill": " Allowed "}, ())  # Azure's case
    assert marked_for_drills("Hub-A", None, ("hub-a",))
    assert not marked_for_drills("hub-a", {"failover-bot-drill": "yes"}, ())
    assert not marked_for_drills("hub-a", {"failover-bot-drill": "allowed-not"}, ())
    assert not marked_for_drills("hub-a", {}, ("hub-b",))


def test_a_schedule_moves_on_by_its_period_and_skips_what_was_missed() -> None:
    every = DrillSchedule("ds-1", "hub-a", "C1", "U1", T0, "why", T0, timedelta(days=90))
    assert every.after(T0, "dr-1").next_at == T0 + timedelta(days=90)
    # The bot was down for 200 days: one drill now, the next in the future, not two at once.
    late = every.after(T0 + timedelta(days=200), None)
    assert late.next_at == T0 + timedelta(days=270)
    once = DrillSchedule("ds-2", "hub-a", "C1", "U1", T0, "why", T0)
    assert once.after(T0, "dr-2").next_at is None


def test_each_figure_is_said_against_the_previous_drill() -> None:
    before_at = datetime(2026, 9, 3, tzinfo=UTC)
    said = compared({"to_active_s": 840.0, "to_verified_s": 300.0},
                    {"to_active_s": 720.0, "to_verified_s": 310.0}, before_at)
    assert said["to_active_s"] == ("to active in the paired region 14m, 2m slower than the "
                                   "last drill on 2026-09-03")
    assert said["to_verified_s"].endswith("as the last drill on 2026-09-03")
    first = compared({"to_active_s": 600.0}, None, None, home=True)
    assert first == {"to_active_s": "to active at home 10m"}
