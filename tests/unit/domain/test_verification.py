"""The verdict after a move, from Azure Monitor's minutes: baseline, evidence, thresholds, the
window, and what people read in the thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import OperationKind
from bot.domain.verification import (
    MINUTE,
    Baseline,
    MetricMinutes,
    MinutePoint,
    Outcome,
    Verdict,
    VerifyRules,
    judge,
    judge_failed_read,
    settled,
    take_baseline,
)
from bot.domain.verification_words import devices_sparkline, sparkline, verdict_words

POSTED = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DONE = datetime(2026, 11, 27, 9, 10, tzinfo=UTC)  # Azure said Succeeded
RULES = VerifyRules()  # 15 min, 95 %, 90 %, 3 min
BASE = Baseline(devices=10_040, telemetry=50_000)
FAILOVER = OperationKind.FAILOVER


def at(hh_mm: str) -> datetime:
    hours, minutes = hh_mm.split(":")
    return datetime(2026, 11, 27, int(hours), int(minutes), tzinfo=UTC)


def minutes(devices: dict[str, float | None],
            telemetry: dict[str, float | None] | None = None) -> MetricMinutes:
    """Per-minute points by "HH:MM"; telemetry defaults to the baseline's rate each minute
    that has devices."""
    if telemetry is None:
        telemetry = {k: (50_000 if v is not None else None) for k, v in devices.items()}
    return MetricMinutes(tuple(MinutePoint(at(k), v) for k, v in devices.items()),
                         tuple(MinutePoint(at(k), v) for k, v in telemetry.items()))


def words(verdict: Verdict) -> str:
    return verdict_words(verdict, FAILOVER, RULES)


# -- the baseline -------------------------------------------------------------------------


def test_the_baseline_is_the_median_of_the_whole_settled_minutes_of_the_hour_before() -> None:
    posted = POSTED + timedelta(seconds=20)
    hour = {f"08:{m:02d}": 10_000.0 + m for m in range(1, 56)}  # 08:01 … 08:55, median 10,028
    odd = {"07:59": 1.0, "08:00": 1.0,  # before the hour (08:00 starts 20 s before it)
           "08:56": None, "08:57": None,  # empty
           "08:58": 1.0, "08:59": 1.0,  # whole, but younger than 3 min when read
           "09:00": 1.0}  # the POST's own minute, cut by it
    baseline = take_baseline(minutes({**hour, **odd}), posted_at=posted, read_at=posted,
                             rules=RULES)

    assert baseline == Baseline(devices=10_028, telemetry=50_000)


def test_an_hour_without_figures_is_no_baseline_and_says_so() -> None:
    empty = take_baseline(minutes({"08:30": None}), posted_at=POSTED, read_at=POSTED,
                          rules=RULES)

    verdict = judge(empty, minutes({}), completed_at=DONE, now=DONE, rules=RULES)

    assert verdict.outcome is Outcome.UNVERIFIED
    assert words(verdict) == ("Could not verify: Azure Monitor had no connected-device "
                              "figures for the hour before.")


def test_a_hub_with_no_devices_connected_before_cannot_be_verified() -> None:
    verdict = judge(Baseline(0, 0), minutes({"09:11": 0, "09:12": 0}), completed_at=DONE,
                    now=at("09:30"), rules=RULES)

    assert words(verdict) == ("Could not verify: no devices were connected in the hour "
                              "before, so there is nothing to compare with.")


def test_a_baseline_that_could_not_be_read_is_said_with_azures_words_at_once() -> None:
    baseline = Baseline.unreadable("The client 'bot' does not have authorization to perform "
                                   "action 'Microsoft.Insights/metrics/read'")

    verdict = judge(baseline, minutes({}), completed_at=DONE, now=DONE, rules=RULES)

    assert verdict.final
    assert words(verdict) == (
        "Could not verify: the hour before could not be read: The client 'bot' does not "
        "have authorization to perform action 'Microsoft.Insights/metrics/read'.")


# -- verified ---------------------------------------------------------------------------


def test_two_whole_minutes_in_a_row_above_the_thresholds_verify_the_hub() -> None:
    after = minutes({"09:10": 2_000, "09:11": 7_000, "09:12": 9_700, "09:13": 9_812},
                    {"09:10": 5_000, "09:11": 30_000, "09:12": 47_000, "09:13": 48_000})

    verdict = judge(BASE, after, completed_at=DONE, now=at("09:17"), rules=RULES)

    assert verdict.outcome is Outcome.VERIFIED
    assert words(verdict) == ("Verified: 9,812 of 10,040 devices connected again (97.7 %) "
                              "4 min after the failover; telemetry at 96 % of the hour before.")


def test_the_confirming_minute_is_not_evidence_until_it_is_older_than_the_delay() -> None:
    after = minutes({"09:12": 9_700, "09:13": 9_812})

    verdict = judge(BASE, after, completed_at=DONE, now=at("09:17") - timedelta(seconds=1),
                    rules=RULES)

    assert verdict.outcome is Outcome.WATCHING
    assert verdict.look_again_at == at("09:17")
    assert words(verdict) == ("Watching: 9,700 of 10,040 devices (96.6 %) 3 min after the "
                              "failover; next look at 09:17 UTC.")


def test_one_good_minute_is_not_enough() -> None:
    after = minutes({"09:12": 9_900, "09:13": 6_000})

    verdict = judge(BASE, after, completed_at=DONE, now=at("09:17"), rules=RULES)

    assert verdict.outcome is Outcome.WATCHING
    assert verdict.look_again_at == at("09:18")


def test_a_minute_that_mixes_before_and_after_the_completion_is_no_evidence() -> None:
    done = DONE + timedelta(seconds=30)  # 09:10:30: the minute from 09:10 is half before
    after = minutes({"09:10": 10_040, "09:11": 10_040})

    verdict = judge(BASE, after, completed_at=done, now=at("09:16"), rules=RULES)

    assert verdict.outcome is Outcome.WATCHING
    assert verdict.figures is not None and verdict.figures.minute == at("09:11")


def test_percentages_are_cut_not_rounded_up_to_a_threshold_they_missed() -> None:
    after = minutes({"09:12": 9_534, "09:13": 9_534})  # 94.96 % of 10,040

    verdict = judge(BASE, after, completed_at=DONE, now=at("09:17"), rules=RULES)

    assert verdict.outcome is Outcome.WATCHING
    assert "(94.9 %)" in words(verdict)


def test_without_telemetry_in_the_hour_before_the_devices_alone_decide() -> None:
    after = minutes({"09:12": 10_000, "09:13": 10_100}, {"09:12": None, "09:13": None})

    verdict = judge(Baseline(10_040, None), after, completed_at=DONE, now=at("09:17"),
                    rules=RULES)

    assert words(verdict) == (
        "Verified: 10,100 of 10,040 devices connected again (100.5 %) 4 min after the "
        "failover; no telemetry in the hour before to compare with.")


def test_a_minute_without_telemetry_is_no_evidence_when_telemetry_is_compared() -> None:
    after = minutes({"09:12": 10_000, "09:13": 10_000}, {"09:12": 50_000, "09:13": None})

    verdict = judge(BASE, after, completed_at=DONE, now=at("09:17"), rules=RULES)

    assert verdict.outcome is Outcome.WATCHING


def test_devices_back_but_telemetry_low_is_not_verified() -> None:
    after = minutes({"09:12": 10_040, "09:13": 10_040}, {"09:12": 20_000, "09:13": 20_000})

    verdict = judge(BASE, after, completed_at=DONE, now=at("09:17"), rules=RULES)

    assert verdict.outcome is Outcome.WATCHING


# -- the window ends ---------------------------------------------------------------------


def forty_percent() -> MetricMinutes:
    return minutes({f"09:{m}": 4_016 for m in range(10, 26)},
                   {f"09:{m}": 19_000 for m in range(10, 26)})


def test_devices_at_forty_percent_are_not_recovered_once_the_window_has_settled() -> None:
    last_settles = at("09:28")  # the window's last minute, 09:24, ended 09:25, + 3 min

    before = judge(BASE, forty_percent(), completed_at=DONE,
                   now=last_settles - timedelta(seconds=1), rules=RULES)
    after = judge(BASE, forty_percent(), completed_at=DONE, now=last_settles, rules=RULES)

    assert before.outcome is Outcome.WATCHING
    assert after.outcome is Outcome.NOT_RECOVERED
    assert after.figures is not None and after.figures.minute == at("09:24")
    assert words(after) == (
        "Not recovered after 15 min: 4,016 of 10,040 devices (40 %) connected; telemetry at "
        "38 % of the hour before (wanted: 95 % of the devices and 90 % of the telemetry).")


@pytest.mark.parametrize(("next_minute", "outcome"), [
    (10_040, Outcome.VERIFIED), (3_000, Outcome.NOT_RECOVERED), (None, Outcome.UNVERIFIED)])
def test_a_window_whose_last_minute_holds_is_given_the_minute_after_to_confirm_it(
        next_minute: float | None, outcome: Outcome) -> None:
    devices: dict[str, float | None] = {f"09:{m}": 4_016 for m in range(10, 24)}
    devices |= {"09:24": 10_040, "09:25": next_minute}

    waiting = judge(BASE, minutes(devices), completed_at=DONE, now=at("09:28"), rules=RULES)
    judged = judge(BASE, minutes(devices), completed_at=DONE, now=at("09:29"), rules=RULES)

    assert (waiting.outcome, waiting.look_again_at) == (Outcome.WATCHING, at("09:29"))
    assert judged.outcome is outcome
    if outcome is Outcome.UNVERIFIED:
        assert words(judged) == (
            "Could not verify: the thresholds held in the minute from 09:24 UTC, but Azure "
            "Monitor had no figures for the minute after it to confirm.")


def test_no_figures_at_all_after_the_move_is_could_not_verify_when_the_window_ends() -> None:
    empty = minutes({f"09:{m}": None for m in range(10, 25)})

    during = judge(BASE, empty, completed_at=DONE, now=at("09:20"), rules=RULES)
    end = judge(BASE, empty, completed_at=DONE, now=at("09:28"), rules=RULES)

    assert words(during) == ("Watching: no whole minute after the failover is in yet; next "
                             "look at 09:21 UTC.")
    assert words(end) == ("Could not verify: Azure Monitor had no figures for any whole "
                          "minute of the 15 min after the completion.")


# -- the metrics could not be read -------------------------------------------------------


def test_metrics_forbidden_is_could_not_verify_with_azures_words() -> None:
    verdict = judge_failed_read("The client 'bot' does not have authorization to perform "
                                "action 'Microsoft.Insights/metrics/read' over scope '/x'.",
                                lasting=True, completed_at=DONE, now=at("09:14"), rules=RULES)

    assert words(verdict) == (
        "Could not verify: Azure Monitor's metrics could not be read: The client 'bot' does "
        "not have authorization to perform action 'Microsoft.Insights/metrics/read' over "
        "scope '/x'.")


def test_throttled_looks_again_after_azures_wait_while_the_window_can_still_tell() -> None:
    during = judge_failed_read("Too many requests.", lasting=False, completed_at=DONE,
                               now=at("09:15"), rules=RULES, retry_after=timedelta(minutes=2))
    too_late = judge_failed_read("Too many requests.", lasting=False, completed_at=DONE,
                                 now=at("09:29"), rules=RULES)

    assert (during.outcome, during.look_again_at) == (Outcome.WATCHING, at("09:17"))
    assert words(during) == ("Watching: the metrics could not be read (Too many requests.); "
                             "next look at 09:17 UTC.")
    assert too_late.outcome is Outcome.UNVERIFIED


# -- the picture -------------------------------------------------------------------------


def test_the_sparkline_scales_from_zero_and_shows_empty_minutes() -> None:
    assert sparkline([10, 10, 0, None, 4, 7, 10]) == "██▁·▄▆█"
    assert sparkline([4_016, 4_016], top=10_040) == "▄▄"
    assert sparkline([None, 0]) == "·▁"


def test_the_devices_sparkline_crosses_the_move_up_to_the_last_settled_minute() -> None:
    across = minutes({"08:58": 10_040, "08:59": 10_040, "09:00": 9_000, "09:01": None,
                      "09:02": 100, "09:03": 2_000, "09:04": 9_000, "09:05": 10_040,
                      "09:06": 10_040})

    line = devices_sparkline(across, start=at("08:58"), end=at("09:10"), now=at("09:09"),
                             rules=RULES, baseline=10_040)

    assert line == "██▇·▁▂▇█"  # 09:05 ended 09:06, settled at 09:09; 09:06 not yet


# -- properties --------------------------------------------------------------------------

value = st.one_of(st.none(), st.integers(0, 12_000).map(float))
AROUND = range(-4, 22)  # minutes around the completion's


@st.composite
def looks(draw: st.DrawFn) -> tuple[datetime, datetime, MetricMinutes]:
    """A completion within some minute, a look 0-25 minutes later, and minutes around it."""
    done = DONE + timedelta(seconds=draw(st.integers(0, 59)))
    now = done + timedelta(seconds=draw(st.integers(0, 25 * 60)))
    starts = [DONE + i * MINUTE for i in AROUND]
    devices = tuple(MinutePoint(s, draw(value)) for s in starts)
    telemetry = tuple(MinutePoint(s, draw(value)) for s in starts)
    return done, now, MetricMinutes(devices, telemetry)


baselines = st.builds(Baseline, st.one_of(st.none(), st.integers(0, 12_000).map(float)),
                      st.one_of(st.none(), st.integers(0, 12_000).map(float)))


@given(looks(), baselines)
def test_a_verified_hub_never_claims_more_devices_than_a_settled_minute_after_showed(
        look: tuple[datetime, datetime, MetricMinutes], baseline: Baseline) -> None:
    done, now, metrics = look
    verdict = judge(baseline, metrics, completed_at=done, now=now, rules=RULES)
    if verdict.outcome is not Outcome.VERIFIED:
        return
    figures = verdict.figures
    assert figures is not None and baseline.devices
    shown = metrics.devices_by_minute()
    assert figures.minute >= done and settled(figures.minute, now, RULES)
    assert figures.devices == shown[figures.minute]
    for start in (figures.minute - MINUTE, figures.minute):
        assert shown[start] is not None and start >= done
        assert shown[start] * 100 >= RULES.devices_pct * baseline.devices
    claimed = verdict_words(verdict, FAILOVER, RULES).split(" of ")[0].removeprefix("Verified: ")
    assert int(claimed.replace(",", "")) <= figures.devices


@given(looks(), baselines, st.data())
def test_minutes_before_the_completion_or_younger_than_the_delay_never_change_the_verdict(
        look: tuple[datetime, datetime, MetricMinutes], baseline: Baseline,
        data: st.DataObject) -> None:
    done, now, metrics = look

    def no_evidence(start: datetime) -> bool:
        return start < done or not settled(start, now, RULES)

    def scrambled(points: tuple[MinutePoint, ...]) -> tuple[MinutePoint, ...]:
        return tuple(MinutePoint(p.start, data.draw(value)) if no_evidence(p.start) else p
                     for p in points)

    other = MetricMinutes(scrambled(metrics.devices), scrambled(metrics.telemetry))

    assert (judge(baseline, other, completed_at=done, now=now, rules=RULES)
            == judge(baseline, metrics, completed_at=done, now=now, rules=RULES))
