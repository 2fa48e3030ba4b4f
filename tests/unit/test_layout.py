"""The package stays small enough to read: no module in ``bot/`` over 300 lines, and each one
named in docs/architecture.md (what it is for, in a row of its table)."""

from __future__ import annotations

import re
from pathlib import Path

import bot

MAX_LINES = 300


def test_no_module_in_the_bot_package_is_over_300_lines() -> None:
    root = Path(bot.__file__).parent
    long = {str(path.relative_to(root)): lines for path in sorted(root.rglob("*.py"))
            if (lines := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


def test_every_module_of_the_bot_package_has_a_row_in_the_architecture_doc() -> None:
    root = Path(bot.__file__).parent
    doc = (root.parent / "docs" / "architecture.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([\w/]+\.py)`", row.split(" | ")[0])}
    modules = {str(path.relative_to(root)) for path in root.rglob("*.py")
               if "migrations" not in path.parts and path.name != "__init__.py"}
    assert sorted(modules - named) == [], "add a row to docs/architecture.md for these"
