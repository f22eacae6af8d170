"""Deferred link writes: joined until the end of the loop turn, or written at once on demand."""

from __future__ import annotations

import asyncio
import struct

from clets.adapters.base import PeerIdentity, defer_write, flush_deferred_writes
from clets.adapters.tcp import StreamLink, StreamOptions


def test_deferred_flush_runs_once_at_the_end_of_the_turn_or_when_asked() -> None:
    calls: list[str] = []

    async def main() -> None:
        defer_write(1, lambda: calls.append("a"))
        defer_write(2, lambda: calls.append("b"))
        assert calls == []  # nothing written inside the turn
        await asyncio.sleep(0)
        assert sorted(calls) == ["a", "b"]  # end of turn: each once
        calls.clear()
        defer_write(1, lambda: calls.append("a"))
        flush_deferred_writes()  # asked for: now
        assert calls == ["a"]
        await asyncio.sleep(0)
        assert calls == ["a"]  # and not again at the end of the turn

    asyncio.run(main())


def test_a_stream_link_writes_its_queued_frames_when_flushed() -> None:
    async def main() -> bytes:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got.put_nowait(await reader.readexactly(9))
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        link = StreamLink(reader, writer, name="t", peer=PeerIdentity(),
                          options=StreamOptions(framing="len2")).start()
        await link.send(b"abc")
        await link.send(b"de")
        assert link._wbuf  # queued for the end of the turn ...
        flush_deferred_writes()
        assert not link._wbuf  # ... handed to the transport now, in order
        data = await asyncio.wait_for(got.get(), 5)
        await link.close()
        server.close()
        return data

    data = asyncio.run(main())
    assert data == struct.pack(">H", 3) + b"abc" + struct.pack(">H", 2) + b"de"
