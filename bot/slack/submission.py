"""A dialog's submission, the same steps for every dialog of the bot: the ack makes the
checks that need no I/O and shows their errors inline (Slack shows inline errors only from
the ack); the lazy half submits through the service, which makes (and audits) them again,
and leaves the dialog alone when the ack already showed them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot.domain.policy import AccessPolicy, Actor
from bot.domain.rules import Refusal
from bot.slack.listener_deps import failure_message
from bot.slack.view_state import STALE

log = logging.getLogger(__name__)

C = TypeVar("C")  # what the dialog carries in its private_metadata


@dataclass(frozen=True)
class Submission(Generic[C]):
    """One dialog's submission."""

    load: Callable[[str], C]  # its private_metadata; ValueError: the dialog is out of date
    checks: Callable[[C, dict[str, Any]], dict[str, Refusal]]  # input -> error, no I/O
    first_input: str  # where "out of date" and "nobody may approve" are shown
    working: Callable[[C], View]  # what the ack shows while the lazy half works
    failed: Callable[[C, str], View]  # a failure, said in the dialog
    name: str  # for the log

    def context(self, view: dict[str, Any]) -> C | None:
        """None: the dialog is out of date (or not the bot's)."""
        try:
            return self.load(view.get("private_metadata") or "")
        except ValueError:
            return None

    def inline_errors(self, access: AccessPolicy, user: str, context: C,
                      view: dict[str, Any]) -> dict[str, Refusal]:
        errors = self.checks(context, view)
        nobody = access.check_approvable(Actor(user))
        return {**errors, self.first_input: nobody} if nobody else errors

    def acknowledge(self, ack: Ack, view: dict[str, Any], access: AccessPolicy,
                    user: str) -> None:
        """Pure checks only: a wrong input gets its inline error with no I/O at all."""
        context = self.context(view)
        if context is None:
            ack(response_action="errors", errors={self.first_input: STALE})
            return
        errors = self.inline_errors(access, user, context, view)
        if errors:
            ack(response_action="errors", errors={k: r.message for k, r in errors.items()})
            return
        ack(response_action="update", view=self.working(context))

    def submit(self, body: dict[str, Any], client: WebClient,
               outcome: Callable[[C], View | None]) -> None:
        """The lazy half: ``outcome`` submits through the service and says what the dialog
        shows next (None: what the ack showed stays); a failure is said in the dialog."""
        view = body["view"]
        context = self.context(view)
        if context is None:
            return
        try:
            shown = outcome(context)
        except Exception as exc:
            shown = self.failed(context, failure_message(exc))
        if shown is None:
            return
        try:
            client.views_update(view_id=view["id"], view=shown)
        except SlackApiError as exc:
            log.info("views.update after %s failed: %s", self.name, exc.response.get("error"))

