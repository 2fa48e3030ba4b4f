"""The worker role (``failover-bot worker``): only the progress poller, for deployments
that scale it apart from ``serve`` (which then runs with ``--no-poller``)."""

from __future__ import annotations

import threading

from bot.bootstrap import make_poller, prepare, slack_client
from bot.config import ConfigError, Settings
from bot.slack.board_notifier import SlackBoardNotifier
from bot.slack.notifier import SlackNotifier


def run_worker(settings: Settings) -> int:
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN: required by `failover-bot worker`")
    components = prepare(settings)
    client = slack_client(settings, components.metrics)
    notifier = SlackNotifier(client, components.service.notices,
                             audit_channel=settings.bot_audit_channel)
    poller = make_poller(components, notifier,
                         boards=SlackBoardNotifier(client, components.service.boards))
    stop = threading.Event()
    try:
        poller.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
        poller.close()
    return 0
