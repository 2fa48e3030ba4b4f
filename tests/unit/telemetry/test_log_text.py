"""A log line quoting what a client sent is written whatever it holds: a lone surrogate
(JSON's "\\ud800") is logged as its escape, never as a "Logging error" traceback."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.telemetry import configure_logging


def test_a_lone_surrogate_in_a_message_is_written_as_its_escape(
        capsys: pytest.CaptureFixture[str]) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)  # like stderr
    handler = configure_logging("INFO", stream)
    try:
        logging.getLogger("bot.slack.guard").warning("payload for team %s", "T0\ud800é")
    finally:
        logging.getLogger().removeHandler(handler)

    [line] = raw.getvalue().decode("utf-8").splitlines()
    assert "payload for team T0\\ud800é" in line  # UTF-8, the surrogate as JSON's escape
    assert json.loads(line)["logger"] == "bot.slack.guard"
    assert "Logging error" not in capsys.readouterr().err
