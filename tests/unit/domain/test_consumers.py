"""A hub's consumers, read from its tags: whatever the tags hold, the bot acts only on exactly
named Function apps and Stream Analytics jobs, only when the hub opts in, and says in plain
words what it will do and what it did not understand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.consumers import (
    CONSUMERS_TAG,
    MAX_CHARS,
    MAX_CONSUMERS,
    MAX_NOT_UNDERSTOOD,
    RESTART_TAG,
    Consumer,
    ConsumerKind,
    HubConsumers,
    consumers_of,
    parse_resource_id,
    plan_sentence,
)
from bot.domain.model import HubRef

SUB = "91d12660-3dec-467a-be2a-213b5544ddc0"
HUB = HubRef("hub-a", SUB, "rg-iot")
GROUP = f"/subscriptions/{SUB}/resourceGroups/rg-telemetry/providers"
FUNC_ID = f"{GROUP}/Microsoft.Web/sites/func-telemetry"
ASA_ID = f"{GROUP}/Microsoft.StreamAnalytics/streamingjobs/asa-alerts"

# -- strategies -------------------------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
site_names = st.builds(lambda a, mid, b: a + mid + b, st.sampled_from(ALNUM),
                       st.text(ALNUM + "-", max_size=58), st.sampled_from(ALNUM))
job_names = st.builds(lambda a, mid, b: a + mid + b, st.sampled_from(ALNUM),
                      st.text(ALNUM + "-_", min_size=1, max_size=61), st.sampled_from(ALNUM))
groups = st.text(ALNUM + "-_()", min_size=1, max_size=90)
subscriptions = st.uuids().map(str)
consumers = st.one_of(
    st.builds(Consumer, st.just(ConsumerKind.FUNCTION_APP), subscriptions, groups, site_names),
    st.builds(Consumer, st.just(ConsumerKind.STREAM_ANALYTICS), subscriptions, groups, job_names),
)
# Anything at all, hidden characters and lookalikes of ids over-represented.
hostile_text = st.lists(st.one_of(
    st.characters(codec=None),
    st.sampled_from(["/", ",", " ", "\n", "\u202e", "\u200b", "\x00", "Microsoft.Web/sites/",
                     "/subscriptions/", "/resourceGroups/", "/providers/", SUB, "func-1"]),
), max_size=200).map("".join)


def _written(consumer: Consumer, recased: bool, short: bool) -> str:
    """An id as a person may write it: keywords, namespace and type in another case, or the
    short form (``Microsoft.Web/sites/<name>``)."""
    kind = consumer.kind.resource_type
    prefix = (f"/subscriptions/{consumer.subscription_id}/resourceGroups/"
              f"{consumer.resource_group}/providers/")
    if recased:
        kind = kind.swapcase()
        prefix = (prefix.replace("/subscriptions/", "/SUBSCRIPTIONS/")
                  .replace("/resourceGroups/", "/resourcegroups/")
                  .replace("/providers/", "/Providers/"))
    return f"{'' if short else prefix}{kind}/{consumer.name}"


# -- properties -------------------------------------------------------------------------


@given(st.dictionaries(st.one_of(st.text(max_size=40), st.sampled_from([CONSUMERS_TAG,
                                                                         RESTART_TAG])),
                       st.one_of(hostile_text, st.none(), st.integers()), max_size=5))
def test_any_tags_give_an_answer_never_an_error(tags: dict) -> None:  # type: ignore[type-arg]
    declared = consumers_of(tags, HUB)
    assert len(declared.consumers) <= MAX_CONSUMERS
    assert len(declared.not_understood) <= MAX_NOT_UNDERSTOOD
    sentence = plan_sentence(declared) or ""
    assert len(sentence) < 3000  # fits one Block Kit section
    assert sentence.isprintable()


@given(hostile_text, st.booleans())
def test_only_exact_function_apps_and_jobs_are_ever_acted_on(value: str, opt_in: bool) -> None:
    tags = {CONSUMERS_TAG: value, RESTART_TAG: "true" if opt_in else "false"}
    declared = consumers_of(tags, HUB)
    for consumer in declared.consumers:
        # What is acted on is exactly what the tag said: it reads back as itself.
        assert parse_resource_id(consumer.resource_id, HUB) == consumer
        assert consumer.resource_id.lower() in value.lower() or (
            consumer.resource_id.split("/providers/", 1)[1].lower() in value.lower())
    assert declared.to_restart == (declared.consumers if opt_in else ())
    for entry in declared.not_understood:
        assert len(entry.shown) <= 60 and "\n" not in entry.shown


@given(st.lists(consumers, max_size=MAX_CONSUMERS, unique_by=lambda c: c.key),
       st.booleans(), st.booleans())
def test_written_ids_are_read_back_in_order(listed: list[Consumer], recased: bool,
                                            spaced: bool) -> None:
    separator = " , " if spaced else ","
    value = separator.join(_written(c, recased, short=False) for c in listed)
    declared = consumers_of({CONSUMERS_TAG: value, RESTART_TAG: "true"}, HUB)
    assert declared.consumers == tuple(listed)
    assert declared.not_understood == ()


@given(consumers, st.booleans())
def test_the_short_form_is_in_the_hubs_own_resource_group(consumer: Consumer,
                                                          recased: bool) -> None:
    declared = consumers_of({CONSUMERS_TAG: _written(consumer, recased, short=True)}, HUB)
    assert declared.consumers == (Consumer(consumer.kind, SUB, "rg-iot", consumer.name),)


@given(consumers, st.sampled_from(["\u202e", "\u200b", "\x00", "\x1b", "\u2066"]),
       st.integers(min_value=0, max_value=60))
def test_an_id_with_hidden_characters_is_never_acted_on(consumer: Consumer, hidden: str,
                                                        at: int) -> None:
    written = consumer.resource_id
    at = min(at, len(written))
    declared = consumers_of({CONSUMERS_TAG: written[:at] + hidden + written[at:],
                             RESTART_TAG: "true"}, HUB)
    assert declared.consumers == ()
    assert len(declared.not_understood) == 1


# -- examples ---------------------------------------------------------------------------


def test_the_approval_says_which_consumers_the_bot_will_restart() -> None:
    declared = consumers_of({CONSUMERS_TAG: f"{FUNC_ID},{ASA_ID}", RESTART_TAG: "true"}, HUB)
    assert [c.label for c in declared.to_restart] == [
        "func-telemetry (Function app)", "asa-alerts (Stream Analytics job)"]
    assert plan_sentence(declared) == (
        "then restart func-telemetry (Function app) and asa-alerts (Stream Analytics job)")


def test_without_the_opt_in_the_consumers_are_only_listed() -> None:
    declared = consumers_of({CONSUMERS_TAG: f"{FUNC_ID}, {ASA_ID}"}, HUB)
    assert declared.to_restart == () and len(declared.by_hand) == 2
    assert plan_sentence(declared) == ("consumers to restart by hand: func-telemetry "
                                       "(Function app) and asa-alerts (Stream Analytics job)")


def test_an_opt_in_other_than_true_is_said_not_guessed() -> None:
    declared = consumers_of({CONSUMERS_TAG: FUNC_ID, RESTART_TAG: "yes"}, HUB)
    assert declared.to_restart == ()
    assert plan_sentence(declared) == (
        "consumers to restart by hand: func-telemetry (Function app); not understood in the "
        "hub's tags, so left alone: \"yes\" (the failover-bot-restart-consumers tag is not "
        "\"true\": the bot only lists the consumers)")


def test_tag_names_are_case_insensitive_as_in_azure() -> None:
    declared = consumers_of({"Failover-Bot-Consumers": FUNC_ID,
                             "FAILOVER-BOT-RESTART-CONSUMERS": " True "}, HUB)
    assert [c.name for c in declared.to_restart] == ["func-telemetry"]


def test_no_tag_means_nothing_to_say() -> None:
    assert consumers_of({"env": "prod"}, HUB) == HubConsumers()
    assert consumers_of(None, HUB) == HubConsumers()
    assert plan_sentence(consumers_of({CONSUMERS_TAG: " , "}, HUB)) is None


@pytest.mark.parametrize(("entry", "reason"), [
    ("func-telemetry", "not an Azure resource id"),
    ("/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Web/sites/f1",
     "not a subscription id after /subscriptions/"),
    (f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Web/sites/f1",
     "not a resource group name"),
    ("Microsoft.Storage/storageAccounts/st1",
     "Microsoft.Storage/storageAccounts is not a Function app or a Stream Analytics job"),
    ("Microsoft.Web/sites/func-telemetry/slots/staging",
     "not a Function app or a Stream Analytics job (Microsoft.Web/sites/… or "
     "Microsoft.StreamAnalytics/streamingjobs/…)"),
    ("Microsoft.Web/sites/-func", "not a Function app name"),
    ("Microsoft.Web/sites/f", "not a Function app name"),
    ("Microsoft.StreamAnalytics/streamingjobs/a b", "not a Stream Analytics job name"),
    (f"/subscriptions/{SUB}/resourceGroups/rg", "not an Azure resource id"),
])
def test_what_is_not_understood_is_named_with_the_reason(entry: str, reason: str) -> None:
    declared = consumers_of({CONSUMERS_TAG: f"{entry},{FUNC_ID}", RESTART_TAG: "true"}, HUB)
    assert [c.name for c in declared.to_restart] == ["func-telemetry"]
    assert [n.reason for n in declared.not_understood] == [reason]
    assert plan_sentence(declared) == (
        f"then restart func-telemetry (Function app); not understood in the hub's tags, so "
        f"left alone: \"{declared.not_understood[0].shown}\" ({reason})")


def test_one_consumer_written_twice_is_restarted_once() -> None:
    again = FUNC_ID.replace("resourceGroups/rg-", "resourcegroups/RG-").replace(
        "Microsoft.Web/sites/func", "microsoft.web/Sites/FUNC")
    declared = consumers_of({CONSUMERS_TAG: f"{FUNC_ID},{again}"}, HUB)
    assert declared.consumers == (parse_resource_id(FUNC_ID, HUB),)


def test_past_the_cap_the_rest_are_left_alone_and_counted() -> None:
    value = ",".join(f"Microsoft.Web/sites/func-{n:02}" for n in range(MAX_CONSUMERS + 2))
    declared = consumers_of({CONSUMERS_TAG: value, RESTART_TAG: "true"}, HUB)
    assert len(declared.to_restart) == MAX_CONSUMERS
    assert [n.label for n in declared.not_understood] == [
        f"2 more consumers left alone: at most {MAX_CONSUMERS} per hub"]


def test_an_overlong_value_is_not_read_at_all() -> None:
    value = ",".join([FUNC_ID] * (MAX_CHARS // len(FUNC_ID) + 1))
    declared = consumers_of({CONSUMERS_TAG: value, RESTART_TAG: "true"}, HUB)
    assert declared.consumers == ()
    assert declared.not_understood[0].label == (
        f"the failover-bot-consumers tag is {len(value):,} characters long, at most "
        f"{MAX_CHARS:,}: none of it was read")


def test_many_entries_not_understood_are_shown_a_few_then_counted() -> None:
    value = ",".join(f"junk{n}" for n in range(12))
    declared = consumers_of({CONSUMERS_TAG: value}, HUB)
    assert [n.shown for n in declared.not_understood[:-1]] == ["junk0", "junk1", "junk2",
                                                               "junk3"]
    assert declared.not_understood[-1].label == "8 more entries"


def test_a_long_entry_is_shown_cut_short_on_one_line() -> None:
    declared = consumers_of({CONSUMERS_TAG: "x" * 40 + "\n" + "y" * 100}, HUB)
    shown = declared.not_understood[0].shown
    assert shown == "x" * 40 + " " + "y" * 18 + "…"
