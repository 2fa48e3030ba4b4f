"""Hypothesis strategies that break a real payload in the ways clients and remotes do: keys
dropped, types changed, values wrapped in a list or turned into a string, deep nesting, huge
strings, lone surrogates and control characters, ids swapped for other real ids."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

Json = Any

# Characters people paste, and the ones nobody should: a NUL, controls, a lone surrogate,
# a right-to-left override, an emoji, a mention and markup.
ODD_STRINGS = ("", " ", "\x00", "\x07\x1b[31m", "\ud800", "a\udfffb", "\u202egnp.exe",
               "🔥", "<!channel>", "*bold* `code`", "null", "[]", "{}", "0", "-1", "1e999",
               "NaN", "true", "../../etc/passwd", "%00", "\r\n\r\n", "\\", '"')

# Text with every code point, lone surrogates included (Hypothesis leaves those out unless
# told), and control characters.
any_char = st.characters(exclude_categories=())
odd_text = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(any_char, max_size=40),
    st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=8),
    st.sampled_from((3_001, 40_000, 300_000)).map(lambda n: "x" * n),  # past Slack's limits
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False), odd_text)
random_json = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@dataclass(frozen=True)
class Deep:
    """``depth`` nested lists around ``leaf``, written out only by :func:`dumps` (Python's own
    encoder, like its decoder, stops at its recursion limit)."""

    depth: int
    leaf: Json = 0


def deep(depth: int, leaf: Json = 0) -> Deep:
    return Deep(depth, leaf)


_DEEP = re.compile(r'"@@deep-(\d+)@@"')


def dumps(value: Json) -> str:
    """JSON text of ``value``, :class:`Deep` values written out in full; every non-ASCII
    character escaped, so a lone surrogate travels as ``"\\ud800"``, as a client would send it."""
    found: list[Deep] = []

    def placeholder(obj: Any) -> str:
        if not isinstance(obj, Deep):
            raise TypeError(f"not JSON: {type(obj).__name__}")
        found.append(obj)
        return f"@@deep-{len(found) - 1}@@"

    text = json.dumps(value, default=placeholder)

    def written(match: re.Match[str]) -> str:
        one = found[int(match.group(1))]
        return "[" * one.depth + dumps(one.leaf) + "]" * one.depth

    return _DEEP.sub(written, text)


# Deep, within what json.loads (and Python's recursion limit) can take; and past it.
depths = st.sampled_from((50, 300))
too_deep = st.sampled_from((5_000, 100_000))


@st.composite
def replacement(draw: st.DrawFn, value: Json, ids: tuple[str, ...]) -> Json:
    """What ``value`` becomes."""
    how = draw(st.sampled_from(("json", "text", "id", "list", "string", "empty", "deep",
                                "splice")))
    if how == "json":
        return draw(random_json)
    if how == "text":
        return draw(odd_text)
    if how == "id":
        return draw(st.sampled_from(ids)) if ids else draw(odd_text)
    if how == "list":  # "team": [{"id": …}]
        return [value]
    if how == "string":  # "view": "{…}"
        return dumps(value) if not isinstance(value, str) else value
    if how == "empty":  # "actions": []
        return [] if isinstance(value, list) else {} if isinstance(value, dict) else ""
    if how == "deep":
        return deep(draw(depths), value if not isinstance(value, dict | list) else 0)
    # A string kept, with odd characters spliced in (a reason with a lone surrogate…).
    if isinstance(value, str):
        at = draw(st.integers(0, len(value)))
        return value[:at] + draw(odd_text) + value[at:]
    return draw(odd_text)


@st.composite
def mutated(draw: st.DrawFn, original: Json, ids: tuple[str, ...] = (),
            max_mutations: int = 3) -> Json:
    """``original`` with 0 to ``max_mutations`` changes, each somewhere in the tree: a key
    dropped or added, or a value replaced (see :func:`replacement`)."""
    value = copy.deepcopy(original)
    for _ in range(draw(st.integers(0, max_mutations))):
        value = _mutate_once(draw, value, ids)
    return value


def _mutate_once(draw: st.DrawFn, root: Json, ids: tuple[str, ...]) -> Json:
    parent: Json = None
    key: Any = None
    node = root
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, draw(st.sampled_from(keys))
        node = node[key]
    if parent is None:  # the root itself
        if isinstance(root, dict) and draw(st.booleans()):
            return _change_member(draw, root, ids)
        return draw(replacement(root, ids))
    if isinstance(parent, dict) and draw(st.integers(0, 3)) == 0:
        return _set(root, parent, key, None, drop=True)
    return _set(root, parent, key, draw(replacement(node, ids)))


def _change_member(draw: st.DrawFn, node: dict[str, Json], ids: tuple[str, ...]) -> Json:
    if node and draw(st.booleans()):
        node.pop(draw(st.sampled_from(sorted(node))))
    else:
        node[draw(st.sampled_from(("type", "user", "team", "view", "actions", "state", "event",
                                   "payload", "token", "extra")))] = draw(random_json)
    return node


def _set(root: Json, parent: Json, key: Any, value: Json, *, drop: bool = False) -> Json:
    if drop:
        del parent[key]
    else:
        parent[key] = value
    return root
