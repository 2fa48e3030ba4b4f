"""A regional batch and an Events API body, for the Slack tests of ``audit --batch`` and the
Home tab (the batch is made through the real use cases, not through Slack)."""

from __future__ import annotations

import json
import time

from bot.domain.model import OperationKind
from bot.domain.policy import Actor
from bot.service import BatchSubmitted, SubmitBatch

from .conftest import APPROVER, CHANNEL, ONCALL_GROUP, REQUESTER, Bot, signed

REGION_HUBS = ("weu-a", "weu-b")  # beside conftest's contoso-hub, also in West Europe


def approved_batch(bot: Bot, *, stop: bool = False) -> str:
    """A failover of two West Europe hubs, approved (and stopped before any start, with
    ``stop``), its board posted; returns the batch id."""
    for name in REGION_HUBS:
        bot.gateway.add_hub(name, "westeurope", 2_000)
    submitted = bot.service.regional.submit(SubmitBatch(
        actor=Actor(REQUESTER), channel_id=CHANNEL, kind=OperationKind.FAILOVER,
        region="westeurope", typed_region="West Europe", reason="INC-77 West Europe down",
        hubs=list(REGION_HUBS)))
    assert isinstance(submitted, BatchSubmitted), submitted
    batch_id = submitted.batch.id
    posted = bot.slack.call("chat.postMessage", {"channel": CHANNEL, "text": "board"},
                            bot.slack.bot_token)
    bot.service.boards.attach_message(batch_id, posted.body["ts"])
    approver = Actor(APPROVER, frozenset({ONCALL_GROUP}))
    assert bot.service.batch_deciding.approve(approver, batch_id).ok
    if stop:
        assert bot.service.batch_deciding.stop(Actor(REQUESTER), batch_id).ok
    return batch_id


def home_opened_body(bot: Bot, user: str, *, tab: str = "home") -> str:
    """The Events API's ``app_home_opened`` callback, as Slack posts it (JSON)."""
    return json.dumps({
        "token": "unused", "team_id": bot.slack.team_id, "api_app_id": "A0BOT",
        "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}",
        "event_time": int(time.time()), "authorizations": [],
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab,
                  "event_ts": f"{time.time():.6f}"},
    })


def json_signed(body: str) -> dict[str, str]:
    return signed(body, content_type="application/json")
