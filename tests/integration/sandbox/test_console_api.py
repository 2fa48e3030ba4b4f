"""The console's server speaks to the bot only as Slack does: signed HTTP requests."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.hubs.gateway import OperationPoll, OperationState
from bot.store.sql import unit_of_work_factory
from failover_sandbox import payloads
from failover_sandbox.console import FAILURE
from failover_sandbox.run import ALICE, BOB, DEMO_HUB, EVE, Sandbox, run_sandbox

from .conftest import eventually, free_port


def _views_of(sandbox: Sandbox, user: str) -> list[object]:
    return [v for v in sandbox.workspace.views.values() if v.user == user and not v.closed]


def test_a_slash_command_typed_in_the_console_opens_the_modal_for_that_person(
        sandbox: Sandbox) -> None:
    reply = requests.post(sandbox.console_url + "api/command", timeout=10,
                          json={"user": ALICE.id, "text": f"/iothub failover {DEMO_HUB}"})

    assert reply.json() == {"ok": True, "status": 200}  # the bot accepted the signature
    eventually(sandbox, lambda: any("North Europe" in str(v.view)  # type: ignore[attr-defined]
                                    for v in _views_of(sandbox, ALICE.id)))
    state = requests.get(sandbox.console_url + "api/state", params={"user": ALICE.id},
                         timeout=10).json()
    assert "250,000" in str(state["modal"]["view"]["blocks"])
    bob = requests.get(sandbox.console_url + "api/state", params={"user": BOB.id},
                       timeout=10).json()
    assert bob["modal"] is None  # modals belong to whoever ran the command


def test_the_bot_rejects_forged_and_unsigned_requests(sandbox: Sandbox) -> None:
    body = payloads.slash_command(
        command="/iothub", text=f"failover {DEMO_HUB}", user_id=EVE.id, user_name="eve",
        team_id=sandbox.workspace.team_id, channel_id="C0INCIDENT", channel_name="incident",
        response_url="http://127.0.0.1:9/nowhere", trigger_id=sandbox.workspace.trigger_for(EVE.id))

    forged = requests.post(sandbox.bot_url, data=body, timeout=10,
                           headers=payloads.signed_headers(body, "not-the-signing-secret"))
    unsigned = requests.post(sandbox.bot_url, data=body, timeout=10,
                             headers={"Content-Type": payloads.FORM})

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert sandbox.workspace.calls("views.open") == []


def test_a_wrong_hub_name_comes_back_as_an_inline_error_and_the_right_one_closes_the_form(
        sandbox: Sandbox) -> None:
    console = sandbox.console
    assert console is not None
    console.slash_command(ALICE.id, f"/iothub failover {DEMO_HUB}")
    modal = eventually(sandbox, lambda: (m := console.state(ALICE.id)["modal"]) and
                       "confirm_hub_name" in str(m["view"]) and m)
    assert isinstance(modal, dict)

    def values(name: str) -> dict[str, dict[str, str | None]]:
        return {"confirm_hub_name": {"confirm_hub_name": name}, "reason": {"reason": "INC-1"}}

    console.submit(ALICE.id, modal["id"], values("contoso-prod-wue"))
    errors = console.state(ALICE.id)["modal"]["errors"]
    assert DEMO_HUB in errors["confirm_hub_name"]
    assert sandbox.workspace.messages("C0INCIDENT") == []

    console.submit(ALICE.id, modal["id"], values(DEMO_HUB))
    eventually(sandbox, lambda: "waiting for approval" in str(console.state(ALICE.id)["modal"]))
    approval = eventually(sandbox, lambda: sandbox.workspace.messages("C0INCIDENT"))
    assert isinstance(approval, list)
    assert "awaiting approval" in approval[0].text


def test_the_signature_is_slacks(sandbox: Sandbox) -> None:
    body = urlencode({"payload": "{}"})
    headers = payloads.signed_headers(body, "s3cret", timestamp=1_700_000_000)
    expected = SignatureVerifier("s3cret").generate_signature(timestamp="1700000000", body=body)
    assert headers["X-Slack-Signature"] == expected


def test_the_sandbox_stops_cleanly(sandbox: Sandbox) -> None:
    assert requests.get(sandbox.console_url, timeout=10).status_code == 200
    health = requests.get(sandbox.bot_url.replace("slack/events", "healthz"), timeout=10)
    assert health.json()["database"] == "writable"
    runtime = sandbox.runtime
    assert runtime is not None

    sandbox.stop()

    for url in (sandbox.console_url, sandbox.bot_url):
        try:
            requests.get(url, timeout=2)
        except requests.ConnectionError:
            continue
        raise AssertionError(f"{url} still answers after stop()")
    thread = runtime.work._poller_thread
    assert thread is not None and not thread.is_alive()


def test_run_sandbox_prints_the_banner_and_returns_0_when_stopped() -> None:
    out = io.StringIO()
    stop = threading.Event()
    stop.set()  # stop as soon as it is up

    code = run_sandbox(Settings(), port=free_port(), speed=60, open_browser=False, out=out,
                       stop=stop)

    text = out.getvalue()
    assert code == 0
    assert "http://127.0.0.1:" in text and "Alice (on-call)" in text
    assert f"/iothub failover {DEMO_HUB}" in text
    assert "about 2" in text or "about 1" in text  # seconds at 60x, not minutes


def test_a_plain_message_is_seen_by_everyone_and_an_unknown_command_only_by_its_author(
        sandbox: Sandbox) -> None:
    console = sandbox.console
    assert console is not None
    console.say(ALICE.id, "looking at *West Europe* now")
    console.slash_command(ALICE.id, "/deploy prod")

    bob = console.state(BOB.id)["timeline"]
    alice = console.state(ALICE.id)["timeline"]
    assert [(m["user_name"], m["text"]) for m in bob] == [
        ("Alice", "looking at *West Europe* now")]
    assert alice[-1]["kind"] == "ephemeral" and "not a valid command" in alice[-1]["text"]



def _fail_over(sandbox: Sandbox, hub: str) -> OperationPoll:
    """Start ``hub``'s failover on the simulated fleet and wait for its end."""
    gateway = sandbox.gateway
    ref = gateway.resolve(hub)
    handle = gateway.start_failover(ref, gateway.get_state(ref).target_region)
    deadline = time.monotonic() + 10
    while (polled := gateway.poll(ref, handle)).state is OperationState.RUNNING:
        assert time.monotonic() < deadline, f"{hub} is still failing over"
        time.sleep(0.05)
    return polled


def test_sandbox_fail_makes_a_hubs_next_failover_fail_and_only_its_author_is_told(
        sandbox: Sandbox) -> None:
    console = sandbox.console
    assert console is not None
    calls_before = len(sandbox.workspace.calls())

    console.slash_command(ALICE.id, "/sandbox fail LITWARE-HVAC-WEU")
    console.slash_command(ALICE.id, "/sandbox fail no-such-hub")
    console.slash_command(ALICE.id, "/sandbox")

    said = [m["text"] for m in console.state(ALICE.id)["timeline"]]
    assert "next failover or failback of `litware-hvac-weu` will run its course" in said[0]
    assert "no hub called `no-such-hub`" in said[1]
    assert "`/sandbox fail <hub>`" in said[2]
    assert console.state(BOB.id)["timeline"] == []
    assert len(sandbox.workspace.calls()) == calls_before  # the bot was never asked
    failed = _fail_over(sandbox, "litware-hvac-weu")
    assert (failed.state, failed.error_code) == (OperationState.FAILED, FAILURE[0])


def test_sandbox_heal_forgets_faults_not_yet_used(sandbox: Sandbox) -> None:
    console = sandbox.console
    assert console is not None
    for hub in ("litware-hvac-weu", "wingtip-edge-weu", "alpineski-lifts-weu"):
        console.slash_command(ALICE.id, f"/sandbox fail {hub}")

    console.slash_command(ALICE.id, "/sandbox heal wingtip-edge-weu")
    assert _fail_over(sandbox, "wingtip-edge-weu").state is OperationState.SUCCEEDED
    assert _fail_over(sandbox, "litware-hvac-weu").state is OperationState.FAILED
    console.slash_command(ALICE.id, "/sandbox heal")
    assert _fail_over(sandbox, "alpineski-lifts-weu").state is OperationState.SUCCEEDED


def test_opening_the_home_tab_sends_app_home_opened_and_shows_what_the_bot_publishes(
        sandbox: Sandbox) -> None:
    console = sandbox.console
    assert console is not None
    assert console.state(ALICE.id)["home"] is None

    assert console.open_home(ALICE.id)["ok"]

    home = eventually(sandbox, lambda: console.state(ALICE.id)["home"])
    assert home["type"] == "home"  # type: ignore[index]
    assert "IoT Hub failover" in str(home)
    assert console.state(BOB.id)["home"] is None  # a Home tab is one person's


def test_audit_by_mention_as_the_help_suggests_answers_that_persons_events(
        sandbox: Sandbox) -> None:
    # `/iothub help` suggests `--user @someone`: the console sends `@Alice` as Slack does
    # (`<@U0ALICE|alice>`), so the bot takes it.
    assert sandbox.settings is not None
    with unit_of_work_factory(sandbox.settings.database_url.get_secret_value())() as uow:
        for actor, hub in ((ALICE.id, "alice-asked-hub"), (BOB.id, "bob-asked-hub")):
            uow.events.append(AuditEvent(datetime.now(UTC), AuditAction.REQUESTED, actor, hub,
                                         "fr-0000000a", OperationKind.FAILOVER))
        uow.commit()
    console = sandbox.console
    assert console is not None

    def answers() -> list[str]:
        return [str(m["blocks"]) for m in console.state(BOB.id)["timeline"]
                if m["kind"] == "ephemeral" and "Audit log" in str(m["blocks"])]

    for typed in ("@Alice", "@alice"):
        seen = len(answers())
        console.slash_command(BOB.id, f"/iothub audit --user {typed}")
        shown = eventually(sandbox, lambda seen=seen: answers()[seen:])  # type: ignore[misc]
        assert "alice-asked-hub" in str(shown) and "bob-asked-hub" not in str(shown), shown


def test_two_staging_hubs_are_marked_for_drills_and_the_demo_hub_is_not(
        sandbox: Sandbox) -> None:
    console = sandbox.console
    assert console is not None

    console.slash_command(ALICE.id, f"/iothub drill {DEMO_HUB}")
    said = eventually(sandbox, lambda: [m["text"] for m in console.state(ALICE.id)["timeline"]])
    assert isinstance(said, list) and len(said) == 1, said
    assert f"`{DEMO_HUB}` is not marked for drills" in said[0]
    assert "tag the hub `failover-bot-drill` = `allowed`" in said[0]  # how to allow it
    assert console.state(ALICE.id)["modal"] is None  # refused before any dialog
    for hub in ("fabrikam-staging-eus", "contoso-staging-weu"):
        console.slash_command(ALICE.id, f"/iothub drill {hub}")
        modal = eventually(sandbox, lambda: (m := console.state(ALICE.id)["modal"])
                           and "What the drill will do" in str(m["view"]) and m)
        assert isinstance(modal, dict) and f"fail `{hub}` over to" in str(modal["view"])
        console.close(ALICE.id, modal["id"])
