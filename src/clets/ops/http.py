"""A tiny asyncio HTTP endpoint for ``/metrics`` and ``/healthz``.

It answers GET only, reads at most one small request head with a deadline, and closes every
connection after the answer: a scraper endpoint must never become an open door for slow peers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

__all__ = ["OpsServer"]

_MAX_HEAD = 8192
_READ_DEADLINE = 5.0


class OpsServer:
    """Serves ``render_metrics()`` at /metrics and ``health()`` at /healthz (200 or 503)."""

    def __init__(self, render_metrics: Callable[[], str],
                 health: Callable[[], dict[str, Any]], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self._render = render_metrics
        self._health = health
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_DEADLINE)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            writer.close()
            return
        if len(head) > _MAX_HEAD:
            await self._reply(writer, 431, "text/plain", b"request head too large\n")
            return
        parts = head.split(b" ", 2)
        method = parts[0] if parts else b""
        path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
        if method != b"GET":
            await self._reply(writer, 405, "text/plain", b"GET only\n")
        elif path == b"/metrics":
            await self._reply(writer, 200, "text/plain; version=0.0.4",
                              self._render().encode("utf-8"))
        elif path == b"/healthz":
            health = self._health()
            status = 200 if health.get("ok") else 503
            await self._reply(writer, status, "application/json",
                              json.dumps(health).encode("utf-8") + b"\n")
        else:
            await self._reply(writer, 404, "text/plain", b"not found\n")

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, ctype: str, body: bytes) -> None:
        reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
                  431: "Request Header Fields Too Large", 503: "Service Unavailable"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode("ascii")
        try:
            writer.write(head + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
