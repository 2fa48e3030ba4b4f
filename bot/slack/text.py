"""Small mrkdwn helpers shared by the Block Kit builders."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.domain.durations import humanize, minute_up
from bot.domain.regions import display_name

DATE_TIME = "{date_short_pretty} {time}"


def when(at: datetime, fmt: str = DATE_TIME) -> str:
    """A date Slack shows in the reader's own time zone, with a UTC fallback."""
    utc = at.astimezone(UTC)
    fallback = utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(utc.timestamp())}^{fmt}|{fallback}>"


def when_allowed(at: datetime, fmt: str = DATE_TIME) -> str:
    """When something refused now is allowed: rounded up to the minute shown."""
    return when(minute_up(at), fmt)


def took(delta: timedelta | None) -> str:
    return humanize(delta) if delta is not None else "–"


def region(name: str | None) -> str:
    return display_name(name) if name else "–"


def user(user_id: str | None) -> str:
    if not user_id:
        return "–"
    if user_id.startswith(("U", "W")) and user_id.isalnum():
        return f"<@{user_id}>"
    return f"`{escape(user_id)}`"  # the policy or the CLI, not a Slack user


def escape(text: str) -> str:
    """User-typed text must not become mentions or links (``<!channel>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ESCAPED_MENTION = re.compile(r"&lt;((?:@|#|!subteam\^)[UWCGS][A-Z0-9]{2,}(?:\|[^&]*)?)&gt;")


def slack_mentions(escaped: str) -> str:
    """Escaped text with its user, group and channel mentions made real again (Slack renders
    them as names); anything else typed, like ``<!channel>``, stays escaped."""
    return _ESCAPED_MENTION.sub(r"<\1>", escaped)


def said(message: str) -> str:
    """A message that may quote what somebody typed or Azure said (a refusal, an error) as
    mrkdwn: escaped, but for the user and channel mentions the bot itself wrote in it."""
    return slack_mentions(escape(message))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def grouped(lines: list[str], limit: int) -> list[str]:
    """Lines joined into as few texts of at most ``limit`` characters as they fit (one
    section block each: Slack's limit is 3000)."""
    texts: list[str] = []
    for line in lines:
        line = clip(line, limit)
        if texts and len(texts[-1]) + 1 + len(line) <= limit:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return texts
