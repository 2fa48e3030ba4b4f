"""The container image, built from the Dockerfile and run as Kubernetes runs it (read-only root,
no capabilities): buildah and podman stand in for Docker, on local stand-in python:*-slim bases
(.ci/container/, no engine, no registry; its README says what that does not prove).

The container reaches a fake Slack on this machine's loopback (podman runs on the host
network). Measured on the shared 2-core machine: 20-25 s when nothing changed, 35-60 s after a
change to the code (the wheel's layers), about 4 minutes the first time on a machine (the tools
65 s, the stand-in bases 2 minutes, the dependencies from PyPI 1-2 minutes; kept in /tmp/ctr).
.ci/run installs the tools and makes this test required there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from wheel_install import http_json

from failover_sandbox.slack_api import SANDBOX_TOKEN, FakeSlackServer
from tests.support import free_port, wait_until

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[3]
TOOLS = ROOT / ".ci" / "container"
NEEDED = ("buildah", "podman", "runc", "debootstrap", "fuse-overlayfs")
# The tag build-and-smoke.sh gives the image: smoke-<the checkout's folder name, tidied>.
IMAGE = "localhost/smoke-{}:latest".format(re.sub(r"[^a-z0-9_.-]", "-", ROOT.name.lower()))
UID = 10001  # the Dockerfile's USER, and the Kubernetes manifest's runAsUser
GRACE_S = 30  # SIGTERM, then SIGKILL after this long: Kubernetes' default grace period
PROMPT_S = 10  # what a prompt stop takes at most, loaded machine included

SIGNING_SECRET = "container-test-signing-secret"  # made up: nothing verifies against it here
AZURE = {"AZURE_SUBSCRIPTION_ID": "91d12660-3dec-467a-be2a-213b5544ddc0",
         "AZURE_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
         "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
         "AZURE_CLIENT_SECRET": "made-up-client-secret"}


def _why_not_here() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the container tools run on Linux only"
    if os.geteuid() != 0:
        return "building and running the image here needs root (rootful podman, debootstrap)"
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (apt-get install buildah podman runc "
                "debootstrap fuse-overlayfs; .ci/run does)")
    return None


_WHY_NOT = _why_not_here()
if _WHY_NOT is not None:
    if os.environ.get("CONTAINER_TEST_REQUIRED") == "1":
        raise RuntimeError(f"CONTAINER_TEST_REQUIRED=1 but {_WHY_NOT}")
    pytest.skip(_WHY_NOT, allow_module_level=True)


@dataclass
class SmokeRun:
    """What build-and-smoke.sh reported (its output and exit status, the image it built), then
    how the running container took SIGTERM once ready, its log, and the fake Slack's view."""

    output: str
    returncode: int
    image: str
    slack: FakeSlackServer
    ready: Mapping[str, object] | None = None
    stop_seconds: float | None = None
    exit_code: str = ""
    log: str = ""

    def line(self, prefix: str) -> str:
        found = [line for line in self.output.splitlines() if line.startswith(prefix)]
        assert found, f"no line starting {prefix!r} in:\n{self.output}"
        return found[-1]


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """podman on the tools' own store (lib.sh's settings)."""
    script = 'source "$0/lib.sh" && ctr_setup && podman "$@"'
    return subprocess.run(["bash", "-c", script, str(TOOLS), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def build_and_start(slack: FakeSlackServer, port: int, volume: str) -> SmokeRun:
    """Build, run, check /healthz, the user and the HEALTHCHECK; leave it running (CTR_KEEP)."""
    env = {"PORT": str(port), "SLACK_BOT_TOKEN": SANDBOX_TOKEN,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack.api_url, **AZURE}
    # As deploy/kubernetes.yaml runs it; the image's default DATABASE_URL (SQLite in /data) on
    # a volume, which starts as the image's /data (owned by the bot's user).
    run_args = ["--read-only", "--cap-drop=all", "--security-opt=no-new-privileges",
                "-v", f"{volume}:/data"]
    for name, value in env.items():
        run_args += ["-e", f"{name}={value}"]
    result = subprocess.run(
        [str(TOOLS / "build-and-smoke.sh"), str(ROOT), str(port), *run_args],
        # --force-rm: a failed build leaves no working container behind in the store.
        env={**os.environ, "CTR_WAIT": "90", "CTR_KEEP": "1", "CTR_BUILD_ARGS": "--force-rm"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200, check=False)
    image = re.search(r"^image: (\S+),", result.stdout, re.MULTILINE)
    return SmokeRun(result.stdout, result.returncode, image.group(1) if image else "", slack)


def stop_when_ready(run: SmokeRun, container: str, port: int) -> None:
    """Wait for /readyz (the work process is up), then SIGTERM as Kubernetes sends it."""
    def exited() -> str | None:
        state = podman("inspect", "--format", "{{.State.Status}}", container).stdout.strip()
        return None if state == "running" else f"the container is {state or 'gone'}"

    run.ready = wait_until("/readyz to answer 200",
                           lambda: http_json(f"http://127.0.0.1:{port}/readyz"),
                           timeout=90, step=0.5, gave_up=exited)
    started = time.monotonic()
    podman("stop", "--time", str(GRACE_S), container, timeout=GRACE_S + 60)
    run.stop_seconds = time.monotonic() - started
    run.exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
    logs = podman("logs", container)
    run.log = logs.stdout + logs.stderr


def image_id(image: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


def forget_replaced(old_id: str, image: str) -> None:
    """Remove the image a new build replaced, and with it its own layers (the virtualenv's
    copy): the store lives on between runs, in /tmp/ctr. Not `podman image prune`: that would
    also drop the builder stage's layers, the dependencies' among them, which are the next
    build's cache."""
    if old_id and image and image_id(image) != old_id:
        podman("rmi", old_id)


@pytest.fixture(scope="module")
def smoke() -> Iterator[SmokeRun]:
    port = free_port()
    volume = f"failover-bot-smoke-data-{os.getpid()}"
    with FakeSlackServer() as slack:
        replaced = image_id(IMAGE)
        run = build_and_start(slack, port, volume)
        kept = re.search(r"container (\S+) left running", run.output)
        try:
            if run.returncode == 0 and kept:
                stop_when_ready(run, kept.group(1), port)
            yield run
        finally:
            if kept:
                podman("rm", "--force", "--time", "0", kept.group(1))
            podman("volume", "rm", "--force", volume)
            forget_replaced(replaced, run.image)


def test_the_image_builds_and_answers_healthz(smoke: SmokeRun) -> None:
    assert smoke.returncode == 0, smoke.output
    assert smoke.line("container ok:").endswith("healthz 200")
    assert smoke.line("healthz:").startswith("healthz: 200")
    # It started for real: it asked the (fake) Slack who it is, from inside the container.
    assert smoke.slack.slack.calls("auth.test")
    # Ready: the database (SQLite on the /data volume) takes writes, the work process runs.
    assert smoke.ready is not None and smoke.ready["status"] == "ready", smoke.ready
    # The image's own HEALTHCHECK (Python, the slim image has no curl) passes inside it.
    assert smoke.line("HEALTHCHECK").endswith(": healthy")


def test_the_main_process_runs_as_the_non_root_user(smoke: SmokeRun) -> None:
    assert smoke.returncode == 0, smoke.output
    user = smoke.line("user:")
    assert user.startswith(f"user: main process uid {UID} "), user
    assert f"id -u in exec: {UID}" in user


def test_sigterm_stops_it_promptly_and_cleanly(smoke: SmokeRun) -> None:
    assert smoke.returncode == 0, smoke.output
    assert smoke.stop_seconds is not None
    # Killed after the grace period would be exit code 137 and GRACE_S seconds.
    assert smoke.exit_code == "0", smoke.log
    assert smoke.stop_seconds < PROMPT_S, f"stopped after {smoke.stop_seconds:.1f}s"
    assert "Finished server process" in smoke.log, smoke.log
    assert "Traceback" not in smoke.log, smoke.log


def test_its_log_carries_no_secret(smoke: SmokeRun) -> None:
    assert smoke.log, smoke.output
    for secret in (SANDBOX_TOKEN, SIGNING_SECRET, AZURE["AZURE_CLIENT_SECRET"]):
        assert secret not in smoke.log


def test_the_image_has_no_sandbox(smoke: SmokeRun) -> None:
    assert smoke.image, smoke.output
    # --timeout: were the sandbox there, it would serve until killed.
    result = podman("run", "--rm", "--timeout", "30", smoke.image, "sandbox",
                    "--no-browser", "--port", str(free_port(with_next=True)))
    assert result.returncode == 2, result.stdout + result.stderr
    said = [line for line in result.stderr.splitlines() if "systemd" not in line]
    assert len(said) == 1, result.stderr
    assert "`sandbox` is not installed here" in said[0] and "failover_sandbox" in said[0]
