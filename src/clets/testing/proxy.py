"""The capturing transparent proxy behind ``clets capture``.

It sits between a client and its peer (a switch, a mainframe, a serial teletype line), forwards
every byte unchanged and at once, and on the side feeds each direction into its own framer so the
capture records whole frames (payload, decoded canonical message) rather than TCP chunks.
Bytes the framer refuses are still forwarded and recorded as ``bad_frame`` events: a proxy that
"fixed" traffic would hide exactly the bugs a tester is looking for.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from clets.errors import ConfigError, LinkError
from clets.framing import BadFrame, Control, Frame, make_framer
from clets.testing.capture import CaptureWriter

__all__ = ["CaptureProxy", "parse_listen"]

_CHUNK = 64 * 1024


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0 picks a free one)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass
class _Side:
    direction: str
    framer_spec: str
    max_frame: int


class CaptureProxy:
    """Listen on ``host:port``; for each client, connect to ``upstream`` (``tcp://host:port``
    or ``serial:///dev/X?baud=N``) and pump bytes both ways while recording frames."""

    def __init__(self, listen: tuple[str, int], upstream: str, writer: CaptureWriter, *,
                 framing: str, codec: str | None = None, codec_out: str | None = None,
                 link: str = "client", max_frame: int = 1 << 20) -> None:
        make_framer(framing, max_frame)  # a bad framing is a ConfigError now, not per client
        self.listen = listen
        self.upstream = upstream
        self.writer = writer
        self.framing = framing
        self.codec_in = codec
        self.codec_out = codec_out or codec
        self.link = link
        self.max_frame = max_frame
        self._server: asyncio.base_events.Server | None = None
        self._conns = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> CaptureProxy:
        self._server = await asyncio.start_server(self._handle, self.listen[0], self.listen[1])
        return self

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def __aenter__(self) -> CaptureProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
        url = self.upstream
        if url.startswith(("tcp://", "tcp+tls://")):
            from clets.adapters.url import parse_link_url

            u = parse_link_url(url)
            ssl_ctx = None
            if u.scheme == "tcp+tls":
                from clets.adapters.tls import client_context

                ssl_ctx = client_context(u.get("ca"), u.get("cert"), u.get("key"))
            assert u.host is not None and u.port is not None
            try:
                r, w = await asyncio.open_connection(u.host, u.port, ssl=ssl_ctx)
            except OSError as exc:
                raise LinkError(f"cannot connect: {exc.strerror or exc}",
                                peer=f"{u.host}:{u.port}") from None
            return r, w, f"{u.host}:{u.port}"
        if url.startswith("serial://"):
            from clets.adapters.url import parse_link_url

            u = parse_link_url(url)
            try:
                import serial_asyncio
            except ImportError:
                raise ConfigError("pyserial-asyncio is not installed") from None
            r, w = await serial_asyncio.open_serial_connection(
                url=u.path, baudrate=u.integer("baud", 9600))
            return r, w, u.path
        raise ConfigError(f"--to {url!r}: expected tcp://, tcp+tls:// or serial://")

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter
                      ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._conns += 1
        conn = self._conns
        addr = c_writer.get_extra_info("peername")
        client = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
        try:
            u_reader, u_writer, upstream = await self._open_upstream()
        except (LinkError, ConfigError, OSError) as exc:
            self.errors.append(str(exc))
            self.writer.write_event(link=self.link, direction="in", kind="disconnect",
                                    conn=conn, peer=client, note=f"upstream failed: {exc}")
            c_writer.close()
            return
        self.writer.write_event(link=self.link, direction="in", kind="connect", conn=conn,
                                peer=client, note=f"upstream {upstream}")
        pumps = [
            asyncio.create_task(self._pump(c_reader, u_writer, "in", conn, client)),
            asyncio.create_task(self._pump(u_reader, c_writer, "out", conn, upstream)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in pumps:
                p.cancel()
            for p in pumps:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await p
            for w in (u_writer, c_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()
            self.writer.write_event(link=self.link, direction="in", kind="disconnect",
                                    conn=conn, peer=client)
            if task is not None:
                self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    direction: str, conn: int, peer: str) -> None:
        framer = make_framer(self.framing, self.max_frame)
        codec = self.codec_in if direction == "in" else self.codec_out
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                return
            writer.write(data)  # forward first: the proxy must not add latency for framing
            await writer.drain()
            if framer.broken is not None:
                continue  # length framing lost sync: keep forwarding, stop recording frames
            for ev in framer.feed(data):
                if isinstance(ev, Frame):
                    self.writer.write_event(link=self.link, direction=direction, raw=ev.payload,
                                            conn=conn, peer=peer, framing=self.framing,
                                            codec=codec)
                elif isinstance(ev, Control):
                    self.writer.write_event(link=self.link, direction=direction,
                                            kind="control", raw=bytes((ev.byte,)), conn=conn,
                                            peer=peer, framing=self.framing)
                elif isinstance(ev, BadFrame):
                    self.writer.write_event(link=self.link, direction=direction,
                                            kind="bad_frame", conn=conn, peer=peer,
                                            framing=self.framing,
                                            note=f"{ev.kind} at offset {ev.offset}: "
                                                 f"{ev.reason}")
