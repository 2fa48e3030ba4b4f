"""Whether an identity may do an action, from what Azure says it may do on a scope.

Azure's ``Microsoft.Authorization/permissions`` answer is a list of entries, one per role
assignment, each with ``actions`` and ``notActions`` (wildcards ``*`` allowed, case-
insensitive). An action is allowed when one entry's actions match it and none of that same
entry's notActions does (a notAction only narrows its own role, never another's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()


def allowed(action: str, permissions: Iterable[Permission]) -> bool:
    return any(_matches_any(action, p.actions) and not _matches_any(action, p.not_actions)
               for p in permissions)


def missing(actions: Iterable[str], permissions: Iterable[Permission]) -> list[str]:
    """The actions of ``actions`` not allowed, in order."""
    granted = list(permissions)
    return [action for action in actions if not allowed(action, granted)]


def _matches_any(action: str, patterns: Iterable[str]) -> bool:
    return any(_pattern(p).fullmatch(action) for p in patterns)


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE)
