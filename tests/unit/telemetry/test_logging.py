"""What an operator reads in the logs: JSON lines, request ids, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.telemetry import (
    bind_request_id,
    configure_logging,
    current_request_id,
    hold_start_up_logs,
    release_start_up_logs,
)

BOT_TOKEN = "xoxb-1111111111-2222222222-AbCdEfGhIjKlMnOpQrStUvWx"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DB_PASSWORD = "s3cr3t-Pa55"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging(
        "DEBUG", stream,
        secrets=[SecretStr(BOT_TOKEN), SIGNING_SECRET, None,
                 SecretStr(f"postgresql+psycopg://bot:{DB_PASSWORD}@db:5432/bot")],
    )
    yield stream
    logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_a_json_object_with_the_standard_fields(output: io.StringIO) -> None:
    log = logging.getLogger("bot.service")
    log.info("request %s opened for %s", "r-1", "hub-1", extra={"hub": "hub-1", "devices": 42})
    log.warning("multi\nline\nmessage")

    first, second = lines(output)
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.service"
    assert first["message"] == "request r-1 opened for hub-1"
    assert first["hub"] == "hub-1" and first["devices"] == 42
    assert str(first["ts"]).endswith("+00:00")
    assert second["message"] == "multi\nline\nmessage"
    assert "request_id" not in first


def test_configured_secrets_never_reach_the_output(output: io.StringIO) -> None:
    log = logging.getLogger("bot.slack")
    log.info("token is %s", BOT_TOKEN)
    log.info("signing secret " + SIGNING_SECRET)
    log.info("calling Slack", extra={"headers": {"X-Trace": f"t {BOT_TOKEN}"}})
    log.error("db down", extra={"url": f"postgresql+psycopg://bot:{DB_PASSWORD}@db:5432/bot"})
    try:
        raise RuntimeError(f"auth failed for {BOT_TOKEN}")
    except RuntimeError:
        log.exception("Slack call failed")

    text = output.getvalue()
    for secret in (BOT_TOKEN, SIGNING_SECRET, DB_PASSWORD):
        assert secret not in text
    records = lines(output)
    assert records[0]["message"] == "token is ***"
    assert "RuntimeError: auth failed for ***" in str(records[-1]["exc"])


def test_token_looking_strings_are_masked_even_when_not_configured(
    output: io.StringIO,
) -> None:
    unknown_tokens = [
        "xoxp-9999-8888-7777-abcdefabcdef",
        "xapp-1-A0123456789-1234567890123-deadbeefcafe",
        "xoxe.xoxp-1-Mi0yLTQ2NTc",
    ]
    log = logging.getLogger("bot.web")
    for token in unknown_tokens:
        log.warning("got %s from a user", token)
    log.info("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature")
    log.info("connecting to postgresql://admin:hunter2@10.0.0.5/bot?sslmode=require")
    log.info("login with user=bob&password=correct-horse")
    log.info("settings", extra={"client_secret": "abc123", "details": {"api_key": "k-42"}})

    text = output.getvalue()
    for leaked in (*unknown_tokens, "eyJhbGciOiJIUzI1NiJ9", "hunter2", "correct-horse",
                   "abc123", "k-42"):
        assert leaked not in text
    records = lines(output)
    assert records[3]["message"] == "Authorization: Bearer ***"
    assert records[4]["message"] == "connecting to postgresql://admin:***@10.0.0.5/bot?sslmode=require"
    assert records[5]["message"] == "login with user=bob&password=***"
    assert records[6]["client_secret"] == "***"


def test_ordinary_text_is_left_alone(output: io.StringIO) -> None:
    message = "hub contoso-hub-01 failed over from West US 2 to West Central US in 8m"
    logging.getLogger("bot.poller").info(message)
    assert lines(output)[0]["message"] == message


def test_request_id_is_attached_while_bound_and_gone_after(output: io.StringIO) -> None:
    log = logging.getLogger("bot.slack")
    with bind_request_id("req-123") as bound:
        log.info("inside")
        with bind_request_id() as nested:
            log.info("nested")
        log.info("inside again")
    log.info("outside")

    records = lines(output)
    assert bound == "req-123"
    assert [r.get("request_id") for r in records] == ["req-123", nested, "req-123", None]
    assert nested and nested != "req-123"
    assert current_request_id() is None


def test_configuring_twice_does_not_duplicate_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", first)
    handler = configure_logging("INFO", second)
    try:
        logging.getLogger("bot").info("once")
        logging.getLogger("bot").debug("below the level")
    finally:
        logging.getLogger().removeHandler(handler)
    assert first.getvalue() == ""
    assert [r["message"] for r in lines(second)] == ["once"]


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="VERBOSE"):
        configure_logging("VERBOSE", io.StringIO())


@pytest.mark.parametrize("started", [True, False])
def test_start_up_logs_wait_for_the_start_and_a_failed_one_drops_them(started: bool) -> None:
    stream = io.StringIO()
    hold_start_up_logs()
    handler = configure_logging("INFO", stream)
    try:
        logging.getLogger("bot").info("checking Slack")
        assert stream.getvalue() == ""  # nothing before start-up is over
        release_start_up_logs(emit=started)
        logging.getLogger("bot").info("serving")
    finally:
        logging.getLogger().removeHandler(handler)
    expected = ["checking Slack", "serving"] if started else ["serving"]
    assert [r["message"] for r in lines(stream)] == expected
