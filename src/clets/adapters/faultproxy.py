"""A TCP fault proxy for tests and benchmarks (toxiproxy's fault model, in-process, asyncio).

netem is not available on the test kernel and toxiproxy is not installable here
(reliability.md section 3), so link tests put this proxy between a client and a server:

- ``latency`` (+/- ``jitter``) seconds added to every chunk, per direction;
- ``slice_size``: forward at most this many bytes per write (1 = byte by byte), with
  ``slice_delay`` between slices -- every framer must cope with a frame in many pieces;
- ``cut_after``: close both sides (FIN) once this many bytes have passed in a connection;
- ``reset_after``: like cut, but abort with RST (``SO_LINGER`` 0);
- ``blackhole``: accept and swallow everything, never connect upstream, never answer;
- ``faulty_connections``: apply the cut/reset/black-hole faults to the first N connections only,
  so a test can show a client recovering on its own.

The fault settings are plain attributes and may be changed while the proxy runs; each new
connection takes a snapshot.  The proxy never reorders bytes within a direction.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["FaultProxy", "Faults"]


@dataclass(frozen=True, slots=True)
class Faults:
    latency: float = 0.0
    jitter: float = 0.0
    slice_size: int | None = None
    slice_delay: float = 0.0
    cut_after: int | None = None
    reset_after: int | None = None
    blackhole: bool = False
    #: apply cut/reset/blackhole to the first N connections only (None: to all)
    faulty_connections: int | None = None


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Conn:
    def __init__(self, faults: Faults, rng: random.Random) -> None:
        self.faults, self.rng = faults, rng
        self.passed = 0
        self.ended = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []

    def end(self, reset: bool) -> None:
        for w in self.writers:
            if reset:
                _rst(w)
            else:
                with contextlib.suppress(Exception):
                    w.close()
        self.ended.set()


class FaultProxy:
    """``FaultProxy(target_host, target_port, faults=Faults(...))``; ``await start()``;
    connect to ``proxy.port``; ``await close()``."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.faults = faults or Faults()
        self.host, self._port = host, port
        self.rng = random.Random(seed)
        self.connections = 0
        self.bytes_forwarded = 0
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    def set(self, **changes: Any) -> None:
        """Change fault settings for connections accepted from now on."""
        self.faults = replace(self.faults, **changes)

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, self.host, self._port)
        return self

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def kill_all(self, reset: bool = True) -> int:
        """Cut every open connection now (RST by default); returns how many."""
        conns = list(self._conns)
        for c in conns:
            c.end(reset)
        return len(conns)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.kill_all(reset=True)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        faults = self.faults
        if faults.faulty_connections is not None and self.connections > faults.faulty_connections:
            faults = replace(faults, cut_after=None, reset_after=None, blackhole=False)
        conn = _Conn(faults, self.rng)
        conn.writers.append(cwriter)
        self._conns.add(conn)
        try:
            if faults.blackhole:
                while await creader.read(65536):
                    pass
                return
            try:
                sreader, swriter = await asyncio.open_connection(*self.target)
            except OSError:
                _rst(cwriter)
                return
            conn.writers.append(swriter)
            pumps = [
                asyncio.ensure_future(self._pump(conn, creader, swriter)),
                asyncio.ensure_future(self._pump(conn, sreader, cwriter)),
            ]
            both: asyncio.Future[Any] = asyncio.gather(*pumps, return_exceptions=True)
            ended: asyncio.Future[Any] = asyncio.ensure_future(conn.ended.wait())
            try:
                # both directions at EOF (half-closes forwarded), or the connection was cut
                await asyncio.wait([both, ended], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for p in [*pumps, ended]:
                    p.cancel()
                await asyncio.gather(*pumps, ended, return_exceptions=True)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for w in conn.writers:
                with contextlib.suppress(Exception):
                    w.close()
            self._conns.discard(conn)
            if task is not None:
                self._tasks.discard(task)

    async def _pump(
        self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        f = conn.faults
        limit = f.reset_after if f.reset_after is not None else f.cut_after
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    with contextlib.suppress(OSError, RuntimeError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                if f.latency or f.jitter:
                    delay = f.latency + (conn.rng.uniform(-f.jitter, f.jitter) if f.jitter else 0)
                    await asyncio.sleep(max(0.0, delay))
                if limit is not None and conn.passed + len(data) >= limit:
                    data = data[: max(0, limit - conn.passed)]
                    await self._write(conn, writer, data, f)
                    conn.end(reset=f.reset_after is not None)
                    return
                await self._write(conn, writer, data, f)
        except (ConnectionError, OSError):
            conn.end(reset=True)

    async def _write(
        self, conn: _Conn, writer: asyncio.StreamWriter, data: bytes, f: Faults
    ) -> None:
        step = f.slice_size or len(data) or 1
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
            await writer.drain()
            conn.passed += len(data[i : i + step])
            self.bytes_forwarded += len(data[i : i + step])
            if f.slice_size and f.slice_delay:
                await asyncio.sleep(f.slice_delay)
