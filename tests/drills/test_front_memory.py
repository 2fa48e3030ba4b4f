"""Drill: unauthenticated 60 MB bodies at the real ``serve`` front. The body limit holds while
the body streams in, so they are refused without being buffered: the front's memory barely
moves, and it goes on acking real Slack requests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import HUB
from .serve_harness import ALICE, Drill

pytestmark = pytest.mark.process_drill

BODY = 60 * 1024 * 1024
CHUNK = 256 * 1024
MAX_GROWTH_KB = 64 * 1024
ATTACKERS = 3


def _kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field_name} for {pid}")


@dataclass
class Outcome:
    status: int | None = None  # what the front answered, if the answer got through
    sent: int = 0  # bytes the front's socket accepted before it hung up
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _attack(port: int, chunked: bool, outcome: Outcome) -> None:
    """An unsigned POST of ``BODY`` bytes; reads the answer while it is still sending."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        framing = ("Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}")
        sock.sendall((f"POST /slack/events HTTP/1.1\r\nHost: bot\r\n{framing}\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n\r\n").encode())
        reader = threading.Thread(target=_read_status, args=(sock, outcome), daemon=True)
        reader.start()
        chunk = b"payload=" + b"A" * (CHUNK - 8)
        try:
            while outcome.sent < BODY and outcome.status is None:
                data = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") if chunked else chunk
                sock.sendall(data)
                outcome.sent += len(chunk)
        except OSError as exc:  # the front hung up on the rest of the body
            outcome.error = type(exc).__name__
        reader.join(30)
    outcome.done.set()


def _read_status(sock: socket.socket, outcome: Outcome) -> None:
    try:
        head = sock.recv(64)
    except OSError as exc:
        outcome.error = outcome.error or type(exc).__name__
        return
    if head.startswith(b"HTTP/1.1 "):
        outcome.status = int(head[9:12])


def test_three_concurrent_60_mb_unsigned_bodies_are_refused_without_buffering(
        drill: Drill) -> None:
    drill.start_bot()
    assert drill.bot is not None
    front = drill.bot.process.pid
    before = _kb(front, "VmRSS")

    outcomes = []
    for chunked in (False, True):  # a declared length, then bodies with no length at all
        batch = [Outcome() for _ in range(ATTACKERS)]
        for outcome in batch:
            threading.Thread(target=_attack, args=(drill.bot.port, chunked, outcome),
                             daemon=True).start()
        for outcome in batch:
            assert outcome.done.wait(120), "an attack did not end"
        outcomes += batch

    peak = _kb(front, "VmHWM")
    after = _kb(front, "VmRSS")
    print(f"front RSS before {before} kB, after {after} kB, peak {peak} kB; "
          f"attacks: {[(o.status, o.sent // 1024 // 1024, o.error) for o in outcomes]}")
    # Refused: answered 413, or cut off long before the whole body was taken.
    for outcome in outcomes:
        assert outcome.status in (413, None), outcome
        assert outcome.status == 413 or outcome.sent < BODY, outcome
    assert sum(o.status == 413 for o in outcomes) >= ATTACKERS
    assert peak - before < MAX_GROWTH_KB, (before, peak)

    # And the front still acks real work.
    console = drill.console()
    started = time.monotonic()
    assert console.slash_command(ALICE.id, f"/iothub status {HUB}")["ok"]
    assert time.monotonic() - started < 3.0
