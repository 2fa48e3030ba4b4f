"""The background progress poller (bounded threads, leases, resumable) and Slack's limits."""

from bot.poller.backoff import PollSchedule
from bot.poller.ratelimit import RateLimitedNotifier
from bot.poller.rounds import Round
from bot.poller.worker import Poller

__all__ = ["PollSchedule", "Poller", "RateLimitedNotifier", "Round"]
