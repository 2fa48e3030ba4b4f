"""The background progress poller (bounded threads, leases, resumable) and Slack's limits."""

from bot.poller.poll_schedule import PollSchedule
from bot.poller.poller import Poller
from bot.poller.ratelimit import RateLimitedNotifier
from bot.poller.rounds import Round

__all__ = ["PollSchedule", "Poller", "RateLimitedNotifier", "Round"]
