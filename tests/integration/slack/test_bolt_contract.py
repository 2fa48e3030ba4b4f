"""What ``bot.slack.lazy`` relies on in Bolt, beyond its public API: should an upgrade of
``slack-bolt`` (bounded in pyproject) rename or reshape any of it, this fails, loudly, before
the front silently stops handing its lazy halves over."""

from __future__ import annotations

import inspect

import pytest
import slack_bolt
from slack_bolt import App, BoltRequest
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.util.utils import get_name_for_callable
from slack_sdk import WebClient

from bot.slack.lazy import BOLT_PRIVATE_NAMES, HandOverListenerRunner, LazyJob, lazy_half

OWNERS = {"App": App, "ThreadListenerRunner": ThreadListenerRunner}


def _app() -> App:
    return App(client=WebClient(token="xoxb-made-up"), signing_secret="made-up",
               token_verification_enabled=False, process_before_response=True)


@pytest.mark.parametrize(("owner", "name"), BOLT_PRIVATE_NAMES)
def test_the_private_names_still_exist(owner: str, name: str) -> None:
    where = _app() if owner == "App" else OWNERS[owner]
    assert hasattr(where, name), f"slack-bolt {slack_bolt.version.__version__}: {owner}.{name}"


def test_the_app_runs_its_listeners_through_the_runner_it_holds() -> None:
    app = _app()
    assert type(app._listener_runner) is ThreadListenerRunner
    assert app.listener_runner is app._listener_runner
    assert "self._listener_runner.run(" in inspect.getsource(App.dispatch)


def test_the_overridden_step_is_called_before_bolts_copy_with_the_same_signature() -> None:
    run = inspect.getsource(ThreadListenerRunner.run)
    assert "self._start_lazy_function(lazy_func, request)" in run
    assert list(inspect.signature(ThreadListenerRunner._start_lazy_function).parameters) \
        == list(inspect.signature(HandOverListenerRunner._start_lazy_function).parameters)


def test_the_runner_is_rebuilt_from_the_attributes_its_constructor_takes() -> None:
    taken = set(inspect.signature(ThreadListenerRunner.__init__).parameters) - {"self"}
    assert taken == {"logger", "process_before_response", "listener_error_handler",
                     "listener_start_handler", "listener_completion_handler",
                     "listener_executor", "lazy_listener_runner"}
    runner = _app().listener_runner
    assert all(hasattr(runner, name) for name in taken)


def test_a_lazy_half_is_found_by_the_name_it_is_given() -> None:
    half = lazy_half("answer", object(), lambda _: lambda: None)
    assert get_name_for_callable(half) == "answer"


def test_a_lazy_only_request_names_its_half_in_the_headers_run_job_sends() -> None:
    job = LazyJob("answer", body="command=%2Fiothub")
    request = BoltRequest(body=str(job.body), headers={
        "x-slack-bolt-lazy-only": ["1"], "x-slack-bolt-lazy-function-name": [job.function]})
    assert request.lazy_only and request.lazy_function_name == "answer"
