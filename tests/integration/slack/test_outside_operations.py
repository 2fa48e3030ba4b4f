"""Operations done outside the bot (portal, CLI, Microsoft) count in the quota and the cool-down.

The real Bolt app with signed requests and the fake Slack Web API; Azure through the real
azure-mgmt-iothub and azure-mgmt-monitor SDKs, with ARM (and its Activity Log) emulated by
``responses``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import responses

from bot.config import load_settings
from bot.domain.clock import FakeClock
from bot.domain.durations import minute_up
from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.hubs.activity import CachedActivityLog, InvalidatingGateway
from bot.hubs.azure import AzureIotHubGateway
from bot.service import FailoverService
from bot.slack.actors import SlackActorResolver
from bot.slack.app import create_app
from bot.slack.client import make_web_client
from bot.slack.notifier import SlackNotifier
from bot.store.base import AuditQuery
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.slack_api import FakeSlackServer

from .conftest import APPROVER, CHANNEL, HUB, ONCALL_GROUP, SECRET, Bot, SyncExecutor

_HUB_TESTS = str(Path(__file__).resolve().parents[1] / "hubs")
if _HUB_TESTS not in sys.path:
    sys.path.insert(0, _HUB_TESTS)
from _arm_emulator import ArmEmulator  # noqa: E402
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential  # noqa: E402
from _faulty_answers import Slow, first_item, same_page_again  # noqa: E402

TEN_MINUTES = timedelta(minutes=10)  # how long an emulated failover takes


@dataclass
class AzureBot:
    bot: Bot
    arm: ArmEmulator

    def modal_text(self, command: str) -> str:
        self.bot.command(command)
        return json.dumps(list(self.bot.slack.views.values())[-1].view["blocks"],
                          ensure_ascii=False)

    def answer(self, command: str) -> str:
        self.bot.command(command)
        body = self.bot.slack.responses[-1].body
        return json.dumps(body.get("blocks") or [], ensure_ascii=False) + body.get("text", "")

    def posts(self) -> int:
        return self.arm.requests["failover"]


@pytest.fixture
def azure(fake_slack: FakeSlackServer, db_file_url: str) -> Iterator[AzureBot]:
    settings = load_settings(
        slack_signing_secret=SECRET, slack_bot_token=fake_slack.slack.bot_token,
        slack_api_url=fake_slack.api_url, bot_approvers=ONCALL_GROUP,
        bot_allowed_channels=CHANNEL)
    clock = FakeClock()
    engine = make_engine(db_file_url)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        arm = ArmEmulator(rsps, clock, operation_time=TEN_MINUTES)
        arm.add_hub(HUB, "West Europe", "North Europe", 1200, resource_group="rg-contoso")
        iothub = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION], clock=clock)
        activity = CachedActivityLog(iothub, clock, settings.bot_activity_log_ttl)
        gateway = InvalidatingGateway(iothub, activity)
        service = FailoverService(uow=unit_of_work_factory(engine), gateway=gateway,
                                  clock=clock, limits=settings.limits, access=settings.access,
                                  request_ttl=settings.bot_request_ttl, activity=activity)
        client = make_web_client(fake_slack.slack.bot_token, fake_slack.api_url,
                                 sleep=lambda _: None)
        notifier = SlackNotifier(client, service.notices)
        app = create_app(service, settings=settings, client=client, notifier=notifier,
                         actor_resolver=SlackActorResolver(client, settings.access.group_ids,
                                                           clock=clock),
                         executor=SyncExecutor())
        yield AzureBot(Bot(app, fake_slack, service, gateway, clock,  # type: ignore[arg-type]
                           settings, notifier), arm)
    engine.dispose()


def _observed(azure: AzureBot) -> list:
    return azure.bot.service.reading.audit(AuditQuery(actions=frozenset({AuditAction.OBSERVED})))


def test_a_failback_10_minutes_after_a_portal_failover_is_refused_naming_who_did_it(
        azure: AzureBot) -> None:
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=TEN_MINUTES * 2)
    started = (azure.bot.clock.now() - TEN_MINUTES * 2).strftime("%H:%M")

    shown = azure.modal_text(f"failback {HUB}")

    assert "A failback must wait 1h after a failover" in shown
    assert "finished 10m ago" in shown
    assert (f"That failover was done in the Azure portal by oncall@contoso.com at {started} "
            "UTC, outside this bot.") in shown
    allowed = azure.bot.clock.now() + timedelta(minutes=50)
    assert f"Allowed again from <!date^{int(allowed.timestamp())}^" in shown
    assert azure.posts() == 0
    refused = [e for e in azure.bot.service.reading.audit(AuditQuery())
               if e.action is AuditAction.REFUSED]
    assert refused[0].detail["reason"] == "cooldown"


def test_four_outside_operations_today_refuse_a_third_failover_before_any_post(
        azure: AzureBot) -> None:
    for hours_ago, who in ((20, "ana@contoso.com"), (16, "ben@contoso.com"),
                           (12, "ana@contoso.com"), (8, "ben@contoso.com")):
        azure.arm.outside_failover(HUB, caller=who, ago=timedelta(hours=hours_ago))

    shown = azure.modal_text(f"failover {HUB}")

    assert "Azure allows 2 failovers per hub per day and this hub has used them" in shown
    assert "ana@contoso.com" in shown and "ben@contoso.com" not in shown  # only failovers
    # The oldest leaves the window just after 4 h; the time shown is rounded up, so it is
    # never a minute at which the bot still refuses.
    allowed = minute_up(azure.bot.clock.now() + timedelta(hours=4, microseconds=1))
    assert allowed > azure.bot.clock.now() + timedelta(hours=4)
    assert f"Allowed again from <!date^{int(allowed.timestamp())}^" in shown
    assert azure.posts() == 0
    assert "0 failovers, 0 failbacks" in azure.answer(f"status {HUB}")


def test_an_outside_failover_is_counted_and_shown_in_the_dialog_and_status(
        azure: AzureBot) -> None:
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=3))
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=1))
    at = (azure.bot.clock.now() - timedelta(hours=3)).strftime("%H:%M")

    shown = azure.modal_text(f"failover {HUB}")
    status = azure.answer(f"status {HUB}")

    assert "1 of 2" in shown
    assert (f"Failovers left today: 1 of 2 — 1 in the Azure portal by oncall@contoso.com "
            f"at {at} UTC") in shown
    assert "1 failover, 1 failback" in status
    assert f"Failovers today: 1 in the Azure portal by oncall@contoso.com at {at} UTC" in status
    # Written to the audit log once each, however often they are looked at.
    observed = _observed(azure)
    assert [(e.actor, e.kind.value if e.kind else None, e.detail["outcome"])
            for e in reversed(observed)] == [("oncall@contoso.com", "failover", "succeeded"),
                                             ("oncall@contoso.com", "failback", "succeeded")]
    assert observed[0].detail["client"] == "Azure portal"


def test_the_bots_own_operations_in_the_activity_log_are_not_counted_twice(
        azure: AzureBot) -> None:
    bot = azure.bot
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)
    bot.clock.advance(TEN_MINUTES)
    bot.service.observing.observe(request_id)
    assert bot.service.reading.get_request(request_id).status is RequestStatus.SUCCEEDED
    assert azure.arm.activity, "Azure recorded the bot's own failover"

    status = azure.answer(f"status {HUB}")

    assert "1 failover, 2 failbacks" in status
    assert f"Failovers today: 1 by this bot ({request_id})" in status
    assert "Azure portal" not in status
    assert _observed(azure) == []
    bot.clock.advance(timedelta(minutes=61))
    shown = azure.modal_text(f"failback {HUB}")
    assert "*Failbacks left today*\\n2 of 2" in shown


def test_an_unreadable_activity_log_falls_back_to_the_bots_own_count_and_says_so(
        azure: AzureBot) -> None:
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=3))
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=1))
    for _ in range(2):
        azure.arm.answer_next_activity_read_with(
            403, "AuthorizationFailed", "The client does not have authorization to perform "
            "action 'Microsoft.Insights/eventtypes/values/read' over scope '/subscriptions/x'.")

    shown = azure.modal_text(f"failover {HUB}")
    status = azure.answer(f"status {HUB}")

    assert ":warning: Failovers left today: 2 of 2 — this bot's own count only" in shown
    assert ("this bot's own count only: Azure's Activity Log is not readable "
            "(AuthorizationFailed; grant Microsoft.Insights/eventtypes/values/Read)") in shown
    assert "2 failovers, 2 failbacks" in status
    assert "*Left today* is this bot's own count only: Azure's Activity Log is not" in status


def test_the_activity_log_is_read_once_for_the_dialog_and_its_submission(
        azure: AzureBot) -> None:
    bot = azure.bot
    bot.request_and_submit()
    assert azure.arm.requests["activity_log"] == 1


def test_approval_rechecks_against_operations_done_since_the_dialog(azure: AzureBot) -> None:
    bot = azure.bot
    request_id = bot.request_and_submit()
    # Meanwhile someone fails it over and back twice in the portal; the cache has expired.
    azure.arm.outside_failover(HUB, caller="ana@contoso.com", ago=timedelta(0))
    bot.clock.advance(timedelta(minutes=75))
    azure.arm.outside_failover(HUB, caller="ana@contoso.com", ago=timedelta(0))
    bot.clock.advance(timedelta(minutes=15))
    azure.arm.outside_failover(HUB, caller="ana@contoso.com", ago=timedelta(0))
    bot.clock.advance(timedelta(minutes=75))
    azure.arm.outside_failover(HUB, caller="ana@contoso.com", ago=timedelta(0))
    bot.clock.advance(timedelta(minutes=15))
    # Expiry would refuse it first; this is about the quota.
    bot.service.request_ttl = timedelta(hours=6)
    with bot.service.uow() as uow:
        pending = uow.requests.get(request_id)
        assert pending is not None
        assert uow.requests.save(pending.evolve(expires_at=bot.clock.now() + timedelta(hours=1)),
                                 pending.version)
        uow.commit()

    bot.click("approve", request_id, user=APPROVER)

    assert azure.posts() == 0
    refusal = bot.slack.ephemerals(APPROVER)[-1].text
    assert "Azure allows 2 failovers" in refusal and "ana@contoso.com" in refusal


def test_a_move_without_any_recorded_operation_is_flagged_in_status_and_list(
        azure: AzureBot) -> None:
    bot = azure.bot
    request_id = bot.request_and_submit()
    bot.click("approve", request_id)
    bot.clock.advance(TEN_MINUTES)
    bot.service.observing.observe(request_id)
    assert "without any recorded operation" not in azure.answer(f"status {HUB}")

    azure.arm.microsoft_failover(HUB)  # back to West Europe: no one asked

    assert "without any recorded operation" in azure.answer(f"status {HUB}")
    bot.clock.advance(timedelta(minutes=6))  # the hub list is cached for 5 minutes
    assert "moved without a recorded operation" in azure.answer("list")


def test_a_hub_away_from_home_with_no_failover_on_record_in_90_days_is_flagged(
        azure: AzureBot) -> None:
    azure.arm.microsoft_failover(HUB)

    status = azure.answer(f"status {HUB}")

    assert "without any recorded operation" in status
    assert "Microsoft-initiated failover" in status


def test_a_hub_failed_over_in_the_portal_days_ago_is_not_flagged(azure: AzureBot) -> None:
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(days=3))

    status = azure.answer(f"status {HUB}")

    assert "North Europe" in status
    assert "without any recorded operation" not in status
    assert "2 failovers, 2 failbacks" in status  # three days ago: not today's quota
    [observed] = _observed(azure)
    assert observed.kind is not None and observed.kind.value == "failover"


# -- Activity Log and hub-list answers the bot will not use (#24) -------------------------------

def test_an_activity_log_paging_the_same_page_forever_costs_two_requests_and_status_says_so(
        azure: AzureBot) -> None:
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=3))
    azure.arm.tamper("activity_log", same_page_again)

    status = azure.answer(f"status {HUB}")

    assert azure.arm.requests["activity_log"] == 2
    assert ("*Left today* is this bot's own count only: Azure's Activity Log could not be read "
            "(Azure sent the same page again), so operations done outside this bot are not "
            "counted.") in status
    assert "2 failovers, 2 failbacks" in status  # the portal's failover is not counted
    assert "Something went wrong" not in status


@pytest.mark.parametrize("field", [{"eventTimestamp": "yesterday"}, {"status": 5}],
                         ids=["timestamp", "status"])
def test_an_activity_log_with_a_field_of_the_wrong_type_falls_back_in_status_and_dialog(
        azure: AzureBot, field: dict[str, object]) -> None:
    azure.arm.outside_failover(HUB, caller="oncall@contoso.com", ago=timedelta(hours=3))
    azure.arm.tamper("activity_log", first_item(lambda event: event.update(field)))

    status = azure.answer(f"status {HUB}")
    shown = azure.modal_text(f"failback {HUB}")

    label = ("this bot's own count only: Azure's Activity Log could not be read (its answer was "
             "not in the shape Azure documents), so operations done outside this bot are not "
             "counted")
    assert label in status and "Something went wrong" not in status
    assert "North Europe" in status  # the live state, read as usual
    assert label in shown
    assert azure.arm.requests["activity_log"] == 1  # the dialog used the remembered failure


def test_a_40s_activity_log_holds_status_for_the_read_deadline_only(azure: AzureBot) -> None:
    slow = Slow(azure.bot.clock, 40)
    azure.arm.tamper("activity_log", slow)
    began = azure.bot.clock.now()

    status = azure.answer(f"status {HUB}")

    waited = (azure.bot.clock.now() - began).total_seconds()
    assert waited == azure.bot.settings.bot_azure_read_deadline.total_seconds() == 5
    assert slow.timeouts == [(5, 5)]
    assert ("*Left today* is this bot's own count only: Azure's Activity Log could not be read "
            "(no answer within 5s)") in status


def test_a_regional_dialog_whose_hub_list_never_ends_lists_nothing_and_says_why(
        azure: AzureBot) -> None:
    azure.arm.tamper("list", same_page_again)

    shown = azure.modal_text('failover --region "West Europe"')

    assert ("The list of IoT hubs could not be read: Azure sent the same page again. Hubs may "
            "be missing from what was read, so none of it is used: try again in a minute."
            ) in shown
    assert "Azure said" not in shown
    assert "submit" not in list(azure.bot.slack.views.values())[-1].view
    assert azure.arm.requests["list"] == 2 and azure.posts() == 0


def test_status_of_a_hub_azure_describes_in_the_wrong_shape_says_it_could_not_be_read(
        azure: AzureBot) -> None:
    azure.arm.tamper("get", lambda request, answer: (
        200, {}, '{"properties": {"locations": "West Europe"}}'))

    status = azure.answer(f"status {HUB}")

    assert (f"The hub `{HUB}` could not be read: its answer was not in the shape Azure "
            "documents.") in status
    assert "Something went wrong" not in status and "Azure said" not in status
