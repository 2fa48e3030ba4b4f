"""What a submitted dialog holds: its inputs, read from ``view.state.values`` (block_id and
action_id are the same for every input of the bot's dialogs), cleaned of what
``bot.domain.user_text`` removes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.domain.user_text import CleanText, clean

STALE = "This dialog is out of date; close it and run the command again."


def input_state(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    """The state of one input (``value``, ``selected_options``…), empty when absent."""
    block = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    return block.get(block_id) or {}


def input_text(view: dict[str, Any], block_id: str) -> CleanText:
    """A text input's value, cleaned, with what cleaning removed."""
    return clean(str(input_state(view, block_id).get("value") or ""))


def input_value(view: dict[str, Any], block_id: str) -> str:
    """A text input's value, cleaned."""
    return input_text(view, block_id).text


def selected_values(view: dict[str, Any], block_id: str) -> list[CleanText]:
    """The values of a multi-select's or checkboxes' chosen options, each cleaned."""
    options = input_state(view, block_id).get("selected_options") or []
    return [clean(str(o.get("value") or "")) for o in options if isinstance(o, dict)]


def cleaning(inputs: dict[str, Iterable[CleanText]]) -> dict[str, str]:
    """Input -> what cleaning removed from it, for the inputs it changed (for the audit)."""
    said = {key: "; ".join(dict.fromkeys(t.changes() for t in texts if t.changed))
            for key, texts in inputs.items()}
    return {key: words for key, words in said.items() if words}


def text_cleaning(view: dict[str, Any], block_ids: Iterable[str]) -> dict[str, str]:
    """:func:`cleaning` of a dialog's text inputs."""
    return cleaning({block_id: [input_text(view, block_id)] for block_id in block_ids})
