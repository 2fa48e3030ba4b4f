"""Slack's side of Socket Mode, on 127.0.0.1: a WebSocket endpoint (RFC 6455, the little of it
Slack's protocol uses) that says ``hello``, sends envelopes and waits for each one's
acknowledgement, and an HTTP bridge in front of it, so the sandbox's ``Console`` acts in Slack
as it does over HTTP: each form body it posts becomes an envelope (``slash_commands`` or
``interactive``), and the acknowledgement's payload is the bridge's answer.

The fake Slack Web API hands out this endpoint's ``ws://`` URL from ``apps.connections.open``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's handshake constant
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
ACK_WITHIN_S = 3.0  # Slack's limit for an acknowledgement


class NotAcknowledged(AssertionError):
    pass


class SocketModeServer:
    """``with SocketModeServer() as slack: slack.url`` (``ws://…``); ``send`` an envelope and
    get its acknowledgement. One connection at a time: a reconnect replaces the previous."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Condition()
        self._connection: socket.socket | None = None
        self._acks: dict[str, dict[str, Any]] = {}
        self.connections = 0
        self.envelopes: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=drill"

    def __enter__(self) -> SocketModeServer:
        threading.Thread(target=self._accept, name="socket-mode-accept", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(OSError):
                    self._connection.close()

    def wait_connected(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._connection is not None, timeout)

    def send(self, kind: str, payload: dict[str, Any], *,
             accepts_response_payload: bool = True) -> dict[str, Any]:
        """Send one envelope; return its acknowledgement (``envelope_id`` checked)."""
        envelope_id = uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": accepts_response_payload, "retry_attempt": 0,
                    "retry_reason": ""}
        with self._lock:
            connection = self._connection
            if connection is None:
                raise NotAcknowledged("the bot is not connected")
            self.envelopes.append(envelope)
            _send_frame(connection, TEXT, json.dumps(envelope).encode())
            if not self._lock.wait_for(lambda: envelope_id in self._acks, ACK_WITHIN_S):
                raise NotAcknowledged(f"{kind} envelope not acknowledged in {ACK_WITHIN_S} s")
            return self._acks.pop(envelope_id)

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True,
                             name="socket-mode-connection").start()

    def _serve(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError, ConnectionError), connection:
            _handshake(connection)
            with self._lock:
                self._connection = connection
                self.connections += 1
                _send_frame(connection, TEXT, json.dumps({
                    "type": "hello", "num_connections": 1,
                    "debug_info": {"host": "drill", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "A0SANDBOX"}}).encode())
                self._lock.notify_all()
            while True:
                opcode, data = _read_frame(connection)
                if opcode == PING:
                    with self._lock:
                        _send_frame(connection, PONG, data)
                elif opcode == TEXT:
                    message = json.loads(data)
                    with self._lock:
                        self.acks.append(message)
                        self._acks[str(message.get("envelope_id"))] = message
                        self._lock.notify_all()
                elif opcode == CLOSE:
                    with self._lock:
                        _send_frame(connection, CLOSE, data[:2])
                    return
        with self._lock:
            if self._connection is connection:
                self._connection = None


def _handshake(connection: socket.socket) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = connection.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        request += chunk
    headers = dict(line.split(": ", 1) for line in
                   request.decode().split("\r\n\r\n")[0].split("\r\n")[1:] if ": " in line)
    key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"].strip()
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    connection.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())


def _send_frame(connection: socket.socket, opcode: int, data: bytes) -> None:
    """A final, unmasked frame (a server's frames are never masked)."""
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    connection.sendall(header + data)


def _read_frame(connection: socket.socket) -> tuple[int, bytes]:
    """One whole message (fragments joined); a client's frames are masked."""
    opcode, message = None, b""
    while True:
        first, second = _read_exactly(connection, 2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", _read_exactly(connection, 2))[0]
        elif size == 127:
            size = struct.unpack("!Q", _read_exactly(connection, 8))[0]
        mask = _read_exactly(connection, 4) if second & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exactly(connection, size)))
        if first & 0x0F >= 0x8:  # control frames come whole, between fragments too
            return first & 0x0F, data
        opcode = opcode if opcode is not None else first & 0x0F
        message += data
        if first & 0x80:
            return opcode, message


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class Bridge:
    """``bot_url`` for the ``Console``: a form body posted here goes to the bot as an envelope;
    the acknowledgement's payload is the answer (504 when none came within 3 s)."""

    def __init__(self, server: SocketModeServer) -> None:
        self.server = server
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = bridge.forward(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/slack/events"

    def forward(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if "payload" in form:
            kind, payload = "interactive", json.loads(form["payload"])
        else:
            kind, payload = "slash_commands", form
        try:
            ack = self.server.send(kind, payload, accepts_response_payload=(
                kind == "slash_commands" or payload.get("type") == "view_submission"))
        except NotAcknowledged:
            return 504, {}
        return 200, dict(ack.get("payload") or {})

    def __enter__(self) -> Bridge:
        threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True,
                         name="socket-mode-bridge").start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
