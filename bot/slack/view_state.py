"""What a submitted dialog holds: its inputs, read from ``view.state.values`` (block_id and
action_id are the same for every input of the bot's dialogs)."""

from __future__ import annotations

from typing import Any

from bot.slack.text import printable

STALE = "This dialog is out of date; close it and run the command again."


def input_state(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    """The state of one input (``value``, ``selected_options``…), empty when absent."""
    block = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    return block.get(block_id) or {}


def input_value(view: dict[str, Any], block_id: str) -> str:
    """A text input's value, printable characters only."""
    return printable(str(input_state(view, block_id).get("value") or ""))
