"""Every Slack listener of the bot, in the order Bolt tries them: the one table both roles
register from (``bot.slack.app``), so a listener cannot be in the front and not in the work
process, or the other way round. Each module declares its own (``bot.slack.listener``);
adding one there and here is all a new command, button, dialog or event needs.

Checked at import: no trigger twice, and every lazy half (``bot.slack.lazy.Half``) is some
listener's, so an ack cannot want a half that nothing would run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from slack_bolt import App

from bot.slack import (
    actions,
    batch_actions,
    commands,
    drill_commands,
    home_tab,
    region_dialog,
    views,
)
from bot.slack.lazy import Half
from bot.slack.listener import Access, Listener, ListenerDeclarationError
from bot.slack.listener_deps import ListenerDeps


def checked(listeners: Iterable[Listener]) -> tuple[Listener, ...]:
    """``listeners`` as a table, or ``ListenerDeclarationError`` saying what is wrong."""
    table = tuple(listeners)
    twice = [f"{kind} {trigger!r}" for (kind, trigger), n
             in Counter((each.kind, each.trigger) for each in table).items() if n > 1]
    if twice:
        raise ListenerDeclarationError(f"declared more than once: {', '.join(twice)}")
    unused = set(Half) - {name for each in table for name in each.halves}
    if unused:
        raise ListenerDeclarationError(
            f"lazy halves no listener has: {', '.join(sorted(unused))}")
    return table


LISTENERS = checked((
    *commands.LISTENERS,  # /iothub, /failover, /failback
    *actions.LISTENERS,  # Approve, Reject
    *batch_actions.LISTENERS,  # a regional batch's Stop the rest, Retry failed
    *drill_commands.LISTENERS,  # a drill's Stop drill
    *views.LISTENERS,  # the confirmation dialog
    *region_dialog.LISTENERS,  # the regional dialog (``failover --region``)
    *home_tab.LISTENERS,  # app_home_opened
))


def register(app: App, deps: ListenerDeps | None, access: Access) -> None:
    """Every listener on ``app``; without ``deps`` (the front), the lazy halves are only
    named: they run elsewhere. The acks read the role's ``access()`` policy."""
    for listener in LISTENERS:
        listener.register(app, deps, access)
