"""The `/iothub` text parser: every input is a command or usage help, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import AuditAction, OperationKind
from bot.slack.parsing import (
    USAGE,
    CancelRequest,
    ListDrills,
    ListHubs,
    RequestDrill,
    RequestOperation,
    RequestRegional,
    ShowAudit,
    ShowHelp,
    ShowStatus,
    Usage,
    parse_command,
)

WORDS = st.sampled_from(["failover", "failback", "status", "list", "audit", "cancel", "help",
                         "--user", "--since", "--status", "--kind", "--page", "--page=2",
                         "--region", "West", "Europe", "westeurope",
                         "contoso-hub", "<@U123|bob>", "7d", "0", "99999", "fr-1a2b", "&lt;",
                         "approved,started", "failover,failback", "--", "=", ""])


@given(st.text())
def test_any_text_parses_or_gets_usage(text: str) -> None:
    assert isinstance(parse_command(text), RequestOperation | RequestRegional | ShowStatus
                      | ListHubs | ShowAudit | CancelRequest | ShowHelp | Usage)


@given(st.lists(WORDS | st.text(max_size=12), max_size=8),
       st.sampled_from([None, "failover", "failback"]))
def test_any_word_sequence_parses_or_gets_usage(words: list[str], default: str | None) -> None:
    result = parse_command(" ".join(words), default=default)
    if isinstance(result, Usage) and result.problem:
        assert len(result.problem) < 400


@pytest.mark.parametrize(("text", "expected"), [
    ("failover contoso-hub", RequestOperation(OperationKind.FAILOVER, "contoso-hub")),
    ("  FAILBACK   contoso-hub ", RequestOperation(OperationKind.FAILBACK, "contoso-hub")),
    ("status contoso-hub", ShowStatus("contoso-hub")),
    ("list", ListHubs(1)),
    ("list 3", ListHubs(3)),
    ("cancel fr-1a2b3c4d", CancelRequest("fr-1a2b3c4d")),
    ("", ShowHelp()),
    ("help", ShowHelp()),
    ("audit", ShowAudit()),
    ("audit contoso-hub --user <@U0BOB|bob> --since 7d --status approved,started "
     "--kind failover --page 2",
     ShowAudit(hub="contoso-hub", user="U0BOB", since=timedelta(days=7),
               actions=frozenset({AuditAction.APPROVED, AuditAction.STARTED}),
               kinds=frozenset({OperationKind.FAILOVER}), page=2)),
    ("audit --user=U0BOB", ShowAudit(user="U0BOB")),
    ("audit --batch fb-1A2b3c4d", ShowAudit(batch="fb-1a2b3c4d")),
    ("audit contoso-hub --batch=fb-00ff --status stopped",
     ShowAudit(hub="contoso-hub", batch="fb-00ff",
               actions=frozenset({AuditAction.STOPPED}))),
])
def test_commands_parse(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_the_shortcut_commands_imply_their_verb() -> None:
    assert parse_command("contoso-hub", default="failback") == \
        RequestOperation(OperationKind.FAILBACK, "contoso-hub")


@pytest.mark.parametrize(("text", "problem"), [
    ("failover", "one hub name"),
    ("failover a b", "one hub name"),
    ("failover no_underscores", "not a valid IoT Hub name"),
    ("list zero", "page number"),
    ("list 0", "page number"),
    ("cancel 42", "request id"),
    ("audit --since soon", "--since"),
    ("audit --status exploded", "unknown status"),
    ("audit --kind sideways", "--kind"),
    ("audit --user @bob", "--user"),
    ("audit --page", "needs a value"),
    ("audit --colour red", "Unknown option"),
    ("audit hub-one hub-two", "not a hub name"),
    ("audit --batch fr-1a2b3c4d", "`--batch`: a batch id is `fb-`"),
    ("audit --batch fb-xyz", "`--batch`"),
    ("audit --batch fb-", "`--batch`"),
    ("audit --batch fb-" + "0" * 30, "`--batch`"),
    ("audit --batch", "needs a value"),
    ("reboot everything", "don't know `reboot`"),
])
def test_malformed_text_says_what_is_wrong(text: str, problem: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Usage) and result.problem and problem in result.problem


@pytest.mark.parametrize(("text", "default", "expected"), [
    ("failover --region West Europe", None, "westeurope"),
    ('failover --region "West Europe"', None, "westeurope"),
    ("failover --region “West Europe”", None, "westeurope"),
    ("failover --region westeurope", None, "westeurope"),
    ("failover --region=WestEurope", None, "westeurope"),
    ("--region west us 2", "failback", "westus2"),
])
def test_a_region_asks_for_every_hub_in_it(text: str, default: str | None,
                                           expected: str) -> None:
    kind = OperationKind(default or text.split()[0])
    assert parse_command(text, default=default) == RequestRegional(kind, expected)


@pytest.mark.parametrize("text", ["failover --region", "failover --region Atlantis",
                                  "failback --region west europa"])
def test_an_unknown_or_missing_region_gets_usage(text: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Usage) and result.problem and "--region" in result.problem


def test_help_mentions_the_regional_mode() -> None:
    assert "--region <region>" in USAGE


def test_help_lists_the_short_commands_the_manifest_installs() -> None:
    assert "`/failover …`" in USAGE and "`/failback …`" in USAGE


@pytest.mark.parametrize(("text", "expected"), [
    ("drill hub-a", RequestDrill("hub-a")),
    ("drill hub-a --every 90d", RequestDrill("hub-a", every=timedelta(days=90))),
    ("drill hub-a --at 2027-01-15T03:00",
     RequestDrill("hub-a", at=datetime(2027, 1, 15, 3, 0, tzinfo=UTC))),
    ("drill hub-a --cancel", RequestDrill("hub-a", cancel=True)),
    ("drills", ListDrills()),
])
def test_drills_parse(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("drill", "takes a hub name"),
    ("drill hub-a --every 2h", "at least `1d`"),
    ("drill hub-a --every soon", "a duration like `90d`"),
    ("drill hub-a --at tomorrow", "a UTC time"),
    ("drill hub-a --now", "takes a hub name"),
    ("drills hub-a", "takes nothing more"),
])
def test_malformed_drills_say_what_is_wrong(text: str, problem: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, Usage) and parsed.problem and problem in parsed.problem
