"""The running switch's local admin socket: operator commands that WRITE (``queue retry``,
``queue purge --dead``) are asked of the switch, never written under it.

Why a socket: with the log journal the switch's queues live in its memory and the journal
file has one writer (the switch holds its lock); a command that wrote the file would not be
seen, or would have to be folded in.  The switch instead does the change itself, in one of
its group commits, with the operator's audit record -- the same record the command writes on
a stopped journal.  Reads (``queue list|show``, ``audit tail|verify``) read the committed log
and need no socket.

A Unix socket next to the journal (``<journal>.sock``), mode 0600: only the switch's user
(and root) can connect.  One JSON object per line each way: ``{"cmd": "retry", "id": N,
"operator": "..."}`` or ``{"cmd": "purge_dead", "operator": "..."}``; the answer is
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from clets.errors import CletsError, ConfigError

__all__ = ["AdminServer", "ask", "socket_path"]

log = logging.getLogger("clets.switch")

#: longest request line read
MAX_REQUEST = 4096
#: Unix socket paths longer than this do not fit ``sockaddr_un``
_MAX_PATH = 100

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def socket_path(journal: str | Path) -> Path:
    return Path(f"{journal}.sock")


class AdminServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> bool:
        """Listen; False (logged) when the path cannot hold a socket."""
        if len(str(self.path)) > _MAX_PATH:
            log.warning("admin socket path too long, no admin socket: %s", self.path)
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of a switch that was killed
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, str(self.path),
                                                           limit=MAX_REQUEST)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(OSError):  # gone, or a file system turned read-only
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), 10)
                req = json.loads(line)
                if not isinstance(req, dict):
                    raise ValueError("a JSON object is expected")
                resp = await self._handler(req)
            except (CletsError, ValueError, KeyError, TypeError) as exc:
                resp = {"ok": False, "error": str(exc)}
            except TimeoutError:
                return
            writer.write(json.dumps(resp).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def ask(journal: str | Path, request: dict[str, Any], timeout: float = 30.0
        ) -> dict[str, Any] | None:
    """Ask the switch running on ``journal``; None when none listens (stopped)."""
    path = socket_path(journal)
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # a stale socket: the switch is not running
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ConfigError("the switch closed the admin socket without an answer",
                          source=str(path))
    resp = json.loads(data)
    if not isinstance(resp, dict):
        raise ConfigError("bad answer on the admin socket", source=str(path))
    return resp
