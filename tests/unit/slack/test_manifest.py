"""manifest.yml validates against Slack's schema and asks only for what the bot uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack.commands import COMMANDS
from bot.slack.home_tab import EVENT as HOME_EVENT

ROOT = Path(__file__).resolve().parents[3]
# Slack's official manifest schema (slackapi/manifest-schema, MIT), copied beside the tests.
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_validates_against_the_schema(manifest: dict[str, Any]) -> None:
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def test_manifest_registers_every_command_the_app_listens_to(manifest: dict[str, Any]) -> None:
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == set(COMMANDS)
    urls = {c["url"] for c in manifest["features"]["slash_commands"]}
    assert urls == {manifest["settings"]["interactivity"]["request_url"]}
    assert next(iter(urls)).endswith("/slack/events")


def test_manifest_asks_for_the_scopes_used_and_no_more(manifest: dict[str, Any]) -> None:
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands", "chat:write", "usergroups:read"}
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_manifest_subscribes_to_the_events_the_app_listens_to(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == [HOME_EVENT]
    assert events["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    assert manifest["features"]["app_home"] == {"home_tab_enabled": True,
                                                "messages_tab_enabled": False}
