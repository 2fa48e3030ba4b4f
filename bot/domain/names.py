"""Hub names a typo most likely meant (IoT Hub names are case-insensitive), and the names
in a typed or chosen list that match no hub they could mean."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

NAMES_SAID = 5  # unmatched names a refusal names, at most (the count says the rest)


# Characters read for one another ("0O3" is "003"): a name that differs only in these is
# what was meant, and no other near name is offered (difflib ranks "103" as close).
_LOOKALIKE = str.maketrans("oil", "011")


def _skeleton(name: str) -> str:
    return name.lower().translate(_LOOKALIKE)


def closest_names(typed: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``known`` that look like ``typed``, best first."""
    by_lower = {name.lower(): name for name in known}
    alike = [name for lower, name in by_lower.items() if _skeleton(lower) == _skeleton(typed)]
    if alike:
        return alike[:n]
    matches = difflib.get_close_matches(typed.lower(), list(by_lower), n=n, cutoff=0.75)
    return [by_lower[m] for m in matches]


def unmatched_names(what: str, listed: Sequence[str], eligible: Sequence[str],
                    why_not: Mapping[str, str]) -> str | None:
    """Words refusing the names of ``listed`` that are none of ``eligible`` (each with why
    it is not eligible, from ``why_not``, or what it most likely meant); ``None`` when every
    name matches. Moving a hub somebody meant to leave out is worse than asking again."""
    wanted = {name.lower() for name in eligible}
    missing = list(dict.fromkeys(n for n in listed if n.lower() not in wanted))
    if not missing:
        return None
    reasons = {name.lower(): why for name, why in why_not.items()}
    said = []
    for name in missing[:NAMES_SAID]:
        shown = f"`{name[:60]}`"
        if name.lower() in reasons:
            said.append(f"{shown} is not eligible ({reasons[name.lower()] or 'not now'})")
            continue
        guesses = " or ".join(f"`{g}`" for g in closest_names(name, eligible))
        said.append(f"{shown} matches no eligible hub"
                    + (f" (did you mean {guesses}?)" if guesses else ""))
    more = len(missing) - NAMES_SAID
    return (f"{what}: {'; '.join(said)}{f'; and {more:,} more' if more > 0 else ''}. "
            "Nothing was recorded: correct it and submit again.")
