"""Every kind of request Slack sends, from real shapes mutated, and wholly random bodies,
signed and not, through the real Bolt app behind the real HTTP face: never a 5xx, never an
error or traceback in the log, never a failover POST that no approver approved, a bounded
number of outgoing requests; and a request that is not Slack's has no effect at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import Harness
from tests.fuzz.profiles import FUZZ_MANY
from tests.fuzz.slack_payloads import (
    NOT_SIGNED,
    SIGNED,
    Request,
    any_request,
    block_actions,
    commands,
    events,
    random_bodies,
    too_deep_bodies,
    typed_reasons,
    view_submissions,
)

signed_only = st.just(SIGNED)


def _send(h: Harness, request: Request) -> None:
    with h.example() as sent:
        body, headers = request.sent_as(h)
        h.post(sent, body, headers)
        h.held(sent)


@FUZZ_MANY
@given(data=st.data())
def test_signed_slash_commands(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(commands(harness, signed_only)))


@FUZZ_MANY
@given(data=st.data())
def test_signed_button_clicks(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(block_actions(harness, signed_only)))


@FUZZ_MANY
@given(data=st.data())
def test_signed_view_submissions(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(view_submissions(harness, signed_only)))


@FUZZ_MANY
@given(data=st.data())
def test_whatever_people_type_in_a_reason(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(typed_reasons(harness)))


@FUZZ_MANY
@given(data=st.data())
def test_signed_events(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(events(harness, signed_only)))


@FUZZ_MANY
@given(data=st.data())
def test_random_bodies_signed_or_not(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(random_bodies(st.sampled_from((SIGNED, *NOT_SIGNED)))))


@FUZZ_MANY
@given(data=st.data())
def test_too_deep_bodies_signed_or_not(harness: Harness, data: st.DataObject) -> None:
    _send(harness, data.draw(too_deep_bodies(harness, st.sampled_from((SIGNED, *NOT_SIGNED)))))


@FUZZ_MANY
@given(data=st.data())
def test_a_request_not_signed_by_slack_has_no_effect(harness: Harness,
                                                     data: st.DataObject) -> None:
    request = data.draw(any_request(harness, st.sampled_from(NOT_SIGNED)))
    with harness.example() as sent:
        audited = harness.audit_size()
        body, headers = request.sent_as(harness)
        status = harness.post(sent, body, headers)
        harness.held(sent, may_post=False)
        assert status in (400, 401, 413), f"answered {status}"
        assert harness.outgoing() == 0, "a request not signed by Slack reached out"
        assert harness.audit_size() == audited, "a request not signed by Slack was audited"
