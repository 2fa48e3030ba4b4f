"""The workspace guard's rule, case by case: a single-workspace install (on Grid or not) and
an org-wide one, against what a payload says of its origin."""

from __future__ import annotations

import pytest

from bot.slack.guard import Identity, Origin, refusal

WORKSPACE = Identity("T1", "A1")
GRID_WORKSPACE = Identity("T1", "A1", enterprise_id="E1")
ORG_WIDE = Identity("T1", "A1", enterprise_id="E1", org_wide=True)


@pytest.mark.parametrize(("identity", "origin", "refused"), [
    (WORKSPACE, Origin("T1", None, "T1", "A1"), None),
    (WORKSPACE, Origin("T1", None, None, None), None),  # a slash command: no user team
    (WORKSPACE, Origin(None, None, "T1", "A1"), "no workspace"),
    (WORKSPACE, Origin("T2", None, "T2", "A1"), "another workspace"),
    (WORKSPACE, Origin("T1", None, "T2", "A1"), "a user of another workspace"),
    (WORKSPACE, Origin("T1", None, "T1", "A2"), "another app"),
    (GRID_WORKSPACE, Origin("T1", "E1", "E1", "A1"), None),  # user.team_id: the org's id
    (GRID_WORKSPACE, Origin("T1", "E2", "E1", "A1"), "another organisation"),
    (GRID_WORKSPACE, Origin(None, "E1", "E1", "A1"), "another workspace"),  # not org-wide
    (ORG_WIDE, Origin(None, "E1", "E1", "A1"), None),  # "team": null, org-installed
    (ORG_WIDE, Origin("T7", "E1", "T7", "A1"), None),  # any workspace of the organisation
    (ORG_WIDE, Origin("T7", None, "T7", "A1"), "another organisation"),
    (ORG_WIDE, Origin("T1", "E2", "E2", "A1"), "another organisation"),
    (ORG_WIDE, Origin("T7", "E1", "T8", "A1"), "a user of another workspace"),
    (ORG_WIDE, Origin(None, None, "E1", "A1"), "no workspace"),
    (Identity(None, "A1"), Origin(None, None, None, "A2"), "another app"),
    (Identity(None, None), Origin(None, None, None, None), None),  # auth.test said nothing
])
def test_the_rule(identity: Identity, origin: Origin, refused: str | None) -> None:
    assert refusal(identity, origin) == refused


def test_the_origin_of_slacks_payload_shapes() -> None:
    assert Origin.of({"team": None, "enterprise": {"id": "E1"}, "user": {"team_id": "E1"},
                      "api_app_id": "A1"}) == Origin(None, "E1", "E1", "A1")
    assert Origin.of({"team": {"id": "T1", "enterprise_id": "E1"}}) == Origin(
        "T1", "E1", None, None)
    assert Origin.of({"team_id": "T1", "enterprise_id": "E1"}) == Origin("T1", "E1", None, None)
    assert Origin.of({"team_id": "T1", "authorizations": [
        {"enterprise_id": "E1", "team_id": "T1", "is_enterprise_install": True}]}) == Origin(
        "T1", "E1", None, None)
