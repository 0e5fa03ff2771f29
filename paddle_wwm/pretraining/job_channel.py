"""The wire between a job's processes and its coordinator: one JSON object a line over TCP.

Plain sockets and no Paddle: the coordinator must keep working when a collective hangs, and a
worker must be able to talk to it before (and without) Paddle's own rendezvous.
"""
from __future__ import annotations

import json
import select
import socket
import time

from paddle_wwm.errors import PaddleWwmError

HEARTBEAT_SECONDS = 1.0


class JobError(PaddleWwmError, ValueError):
    """A cluster job cannot start, or it ended badly; the message names the node, rank or step."""


class ChannelClosed(ConnectionError):
    """The other end closed the connection (or it broke)."""


class Channel:
    """A connected socket that sends and receives whole JSON lines."""

    def __init__(self, sock: socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._buffer = b""

    @classmethod
    def connect(cls, host: str, port: int, timeout: float, what: str) -> "Channel":
        """Connect, retrying until ``timeout`` seconds have passed (the other side may start later)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return cls(socket.create_connection((host, port), timeout=5))
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise JobError(f"{what} at {host}:{port} not reachable within {timeout:.0f} s ({error}); "
                                   "is the command running on the master node, and is the port open?") from None
                time.sleep(0.5)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, message: dict) -> None:
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as error:
            raise ChannelClosed(str(error)) from None

    def receive(self, timeout: float = 0.0) -> list[dict]:
        """The messages that arrive within ``timeout`` seconds (none is fine); ChannelClosed at EOF."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if ready:
            self.feed()
        return self.messages()

    def feed(self) -> None:
        """Read what the socket holds (call when select says it is readable)."""
        try:
            data = self.sock.recv(65536)
        except OSError as error:
            raise ChannelClosed(str(error)) from None
        if not data:
            raise ChannelClosed("connection closed")
        self._buffer += data

    def messages(self) -> list[dict]:
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
