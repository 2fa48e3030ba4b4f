"""``/iothub audit --batch fb-…`` through the real Bolt app: a regional batch's own events
(requested, approved, stopped: no hub) and each of its hubs' events, nothing else."""

from __future__ import annotations

import json

from bot.store.base import AuditQuery

from .conftest import REQUESTER, Bot
from .regional import REGION_HUBS, approved_batch


def _shown(bot: Bot) -> str:
    assert bot.slack.responses, "nothing was posted to the response_url"
    body = bot.slack.responses[-1].body
    return json.dumps(body.get("blocks") or [], ensure_ascii=False) + body.get("text", "")


def test_audit_batch_shows_the_batch_and_its_hubs_only(bot: Bot) -> None:
    single = bot.request_and_submit()  # contoso-hub, alone: not in the batch
    batch_id = approved_batch(bot, stop=True)

    assert bot.command(f"audit --batch {batch_id}").status == 200
    shown = _shown(bot)
    for action in ("requested", "approved", "stopped"):
        assert f"*{action} failover* · <@" in shown and f"batch `{batch_id}`" in shown
    assert shown.index("*stopped failover*") < shown.index("*approved failover*")
    for words in ("reason: INC-77 West Europe down", "region westeurope", "2 hubs",
                  "2 not started, cancelled"):
        assert words in shown
    for hub in REGION_HUBS:
        assert f"`{hub}`" in shown
    assert single not in shown and "contoso-hub" not in shown

    events = bot.service.reading.audit(AuditQuery(batch_id=batch_id, limit=100))
    assert len([e for e in events if e.hub is None]) == 3
    assert f"{min(len(events), 15)} audit events" in shown


def test_audit_batch_with_other_filters(bot: Bot) -> None:
    batch_id = approved_batch(bot, stop=True)
    bot.command(f"audit weu-a --batch={batch_id} --status approved")
    shown = _shown(bot)
    assert "`weu-a`" in shown and "*approved failover*" in shown
    assert "`weu-b`" not in shown and f"batch `{batch_id}`" not in shown


def test_a_malformed_batch_id_gets_usage_and_is_audited(bot: Bot) -> None:
    response = bot.command("audit --batch fr-1a2b3c4d")
    body = json.loads(response.body)
    assert response.status == 200 and body["response_type"] == "ephemeral"
    shown = json.dumps(body["blocks"], ensure_ascii=False)
    assert "`--batch`: a batch id is `fb-` and hex digits" in shown
    assert "/iothub audit --batch fb-…" in shown  # the usage says how
    refused = bot.service.reading.audit(AuditQuery(user=REQUESTER))
    assert [(e.action.value, e.detail["reason"]) for e in refused] == [
        ("refused", "malformed_command")]
    assert "--batch" in refused[0].detail["message"]
