"""What the store keeps after a move, on the fake, on SQLite and on PostgreSQL alike: a
verification's looks are leased and compare-and-set, its minutes and figures round-trip; a
consumer action is taken by one process only, and one left acting by a dead one is found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.consumer_action import ActionStatus, ConsumerAction
from bot.domain.consumer_results import RestartOutcome, RestartResult
from bot.domain.consumers import Consumer, ConsumerKind
from bot.domain.model import HubRef, OperationKind
from bot.domain.verification import Baseline, Figures, MetricMinutes, MinutePoint, Outcome, Verdict
from bot.domain.verification_state import Verification, VerifyStatus

from .test_store_contract import Store, store  # noqa: F401

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
HUB = HubRef("contoso-hub", "91d12660-3dec-467a-be2a-213b5544ddc0", "rg-contoso")
FUNC = Consumer(ConsumerKind.FUNCTION_APP, HUB.subscription_id, HUB.resource_group, "func-a")
JOB = Consumer(ConsumerKind.STREAM_ANALYTICS, HUB.subscription_id, HUB.resource_group, "asa-b")


def _watching(opened: Store) -> Verification:
    begun = Verification("fr-1", HUB, OperationKind.FAILOVER, T0, next_look_at=T0)
    with opened() as uow:
        assert uow.verifications.add(begun)
        assert not uow.verifications.add(begun)  # a start tried again adds nothing
        watching = begun.completed(T0 + timedelta(minutes=10), T0 + timedelta(minutes=15))
        assert uow.verifications.save(watching, begun.version)
        uow.commit()
    return watching


def test_a_verification_is_looked_at_by_one_owner_and_saved_by_compare_and_set(
        store: Store) -> None:  # noqa: F811
    watching = _watching(store)
    due = T0 + timedelta(minutes=15)
    with store() as uow:
        assert uow.verifications.claim_due("a", due - timedelta(seconds=1), LEASE, 10) == []
        assert uow.verifications.next_due(due) == due
        claimed = uow.verifications.claim_due("a", due, LEASE, 10)
        assert uow.verifications.claim_due("b", due, LEASE, 10) == []  # a holds it
        uow.commit()
    assert [v.request_id for v in claimed] == ["fr-1"]

    minute = datetime(2026, 11, 27, 9, 11, tzinfo=UTC)
    figures = Figures(minute, 9_812.0, 10_040.0, 57_600.0, 60_000.0, 5)
    read = MetricMinutes((MinutePoint(minute, 9_812.0),), (MinutePoint(minute, None),))
    verified = watching.looked(Verdict(Outcome.VERIFIED, figures), now=due, minutes=read,
                               baseline=Baseline(10_040.0, 60_000.0), reads=2,
                               next_look_at=None)
    with store() as uow:
        assert uow.verifications.save(verified, watching.version)
        assert not uow.verifications.save(verified, watching.version)  # stale
        uow.verifications.release("fr-1", "a")
        uow.commit()
    with store() as uow:
        back = uow.verifications.get("fr-1")
        owed = uow.verifications.claim_due("b", due, LEASE, 10)  # a verdict not yet told
    assert back == verified and back.status is VerifyStatus.VERIFIED
    assert back.minutes.devices[0].start == minute and back.figures == figures
    assert [v.request_id for v in owed] == ["fr-1"]


def test_the_latest_verification_of_a_hub_and_a_batchs_are_found(store: Store) -> None:  # noqa: F811
    watching = _watching(store)
    with store() as uow:
        latest = uow.verifications.latest_for_hub(HUB.name)
        found = uow.verifications.summaries(["fr-1", "fr-none"])
    assert latest == watching and set(found) == {"fr-1"}
    assert found["fr-1"].status is VerifyStatus.WATCHING


def test_a_consumer_action_is_taken_once_and_a_dead_takers_is_found_lapsed(
        store: Store) -> None:  # noqa: F811
    actions = [ConsumerAction("fr-1", HUB.name, OperationKind.FAILOVER, c) for c in (FUNC, JOB)]
    with store() as uow:
        uow.consumer_actions.plan(actions, T0)
        uow.consumer_actions.plan(actions, T0)  # planned once
        uow.commit()
    with store() as uow:
        first = uow.consumer_actions.take_pending("a", T0, LEASE, 1)
        second = uow.consumer_actions.take_pending("b", T0, LEASE, 5)
        assert uow.consumer_actions.take_pending("c", T0, LEASE, 5) == []
        uow.commit()
    assert len(first) == len(second) == 1 and first[0].consumer != second[0].consumer
    assert first[0].status is second[0].status is ActionStatus.ACTING

    done = first[0].finished(RestartResult(first[0].consumer, RestartOutcome.RESTARTED, 38.0),
                             T0 + timedelta(seconds=38))
    later = T0 + LEASE + timedelta(seconds=1)
    with store() as uow:
        assert not uow.consumer_actions.finish(done, owner="b")  # not b's
        assert uow.consumer_actions.finish(done, owner="a")
        lapsed = uow.consumer_actions.lapsed(later, 10)
        interrupted = lapsed[0].interrupted(later)
        assert uow.consumer_actions.finish(interrupted, owner=None)
        uow.commit()
    assert [a.consumer for a in lapsed] == [second[0].consumer]
    with store() as uow:
        untold = uow.consumer_actions.untold(10)
        uow.consumer_actions.mark_told(untold[0])
        uow.commit()
    with store() as uow:
        statuses = {a.consumer.name: (a.status, a.announced)
                    for a in uow.consumer_actions.for_request("fr-1")}
        assert len(uow.consumer_actions.untold(10)) == 1
    assert {s for s, _ in statuses.values()} == {ActionStatus.DONE, ActionStatus.INTERRUPTED}
    assert sum(told for _, told in statuses.values()) == 1
