"""The package stays small enough to read: no module in ``bot/`` over 300 lines."""

from __future__ import annotations

from pathlib import Path

import bot

MAX_LINES = 300


def test_no_module_in_the_bot_package_is_over_300_lines() -> None:
    root = Path(bot.__file__).parent
    long = {str(path.relative_to(root)): lines for path in sorted(root.rglob("*.py"))
            if (lines := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"
