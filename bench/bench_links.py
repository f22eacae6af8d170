"""Link throughput: framed messages per second over loopback TCP+TLS, through the link classes
versus a bare asyncio stream, in the same run.

  link  TcpClient.send() -> TcpServer.receive(): len2 framer on both sides, reader task, queue,
        peer identity from the client certificate (mutual TLS), deadlines armed
  bare  asyncio.open_connection with the same TLS contexts; the sender writes the same
        pre-framed bytes (write + drain per frame), the receiver does readexactly(2) and
        readexactly(n) per frame
  bare-batched  the same, but the sender joins frames into 256 KiB writes -- what the link's
        send() does (frames sent in one event-loop turn go out in one write), so ``ratio_batched``
        compares like with like on the sending side

One connection, pipelined (the sender never waits for the receiver), 200-byte frames by
default.  Each variant runs ``repeats`` times; the best run counts.  ``ratio`` = link / bare.
Plain TCP rows are printed for comparison.  Target: ratio >= 0.7 for TLS.

Run:  .venv/bin/python bench/bench_links.py [frames] [size]
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from typing import Any

import trustme

from clets.adapters.tcp import StreamOptions, TcpClient, TcpServer
from clets.adapters.tls import PeerMap, TlsPeer, harden


def _contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    sctx = harden(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(sctx)
    ca.configure_trust(sctx)
    sctx.verify_mode = ssl.CERT_REQUIRED
    cctx = harden(ssl.create_default_context(ssl.Purpose.SERVER_AUTH))
    ca.configure_trust(cctx)
    ca.issue_cert("bench-client").configure_cert(cctx)
    return sctx, cctx


async def _link(n: int, payload: bytes, sctx: ssl.SSLContext | None,
                cctx: ssl.SSLContext | None) -> float:
    opts = StreamOptions(framing="len2", idle_timeout=60, frame_timeout=30)
    if sctx is not None:
        srv = TcpServer(tls=sctx, peers=PeerMap({"bench-client": TlsPeer("BENCH")}),
                        options=opts)
        cli = TcpClient("127.0.0.1", 0, tls=cctx, options=opts)
    else:
        srv = TcpServer(plain=True, options=opts)
        cli = TcpClient("127.0.0.1", 0, plain=True, options=opts)
    await srv.start()
    cli.port = srv.port
    await cli.connect()

    async def consume() -> None:
        for _ in range(n):
            item = await srv.receive()
            assert len(item.payload) == len(payload)

    t0 = time.perf_counter()
    consumer = asyncio.create_task(consume())
    for _ in range(n):
        await cli.send(payload)
    await consumer
    dt = time.perf_counter() - t0
    await cli.close()
    await srv.close()
    return dt


async def _bare_batched(n: int, payload: bytes, sctx: ssl.SSLContext | None,
                        cctx: ssl.SSLContext | None) -> float:
    return await _bare(n, payload, sctx, cctx, batch=256 * 1024 // (len(payload) + 2))


async def _bare(n: int, payload: bytes, sctx: ssl.SSLContext | None,
                cctx: ssl.SSLContext | None, batch: int = 1) -> float:
    done = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(n):
            size = int.from_bytes(await reader.readexactly(2), "big")
            body = await reader.readexactly(size)
            assert len(body) == len(payload)
        done.set_result(None)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
    port = server.sockets[0].getsockname()[1]
    if cctx is not None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=cctx,
                                                        server_hostname="127.0.0.1")
    else:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framed = len(payload).to_bytes(2, "big") + payload
    t0 = time.perf_counter()
    if batch == 1:
        for _ in range(n):
            writer.write(framed)
            await writer.drain()
    else:
        left = n
        while left:
            k = min(batch, left)
            writer.write(framed * k)
            await writer.drain()
            left -= k
    await done
    dt = time.perf_counter() - t0
    writer.close()
    server.close()
    await server.wait_closed()
    return dt


async def _run(n: int, size: int, repeats: int) -> list[dict[str, Any]]:
    payload = bytes((65 + i % 26) for i in range(size))
    sctx, cctx = _contexts()
    rows: list[dict[str, Any]] = []
    for transport, s, c in (("tls", sctx, cctx), ("plain", None, None)):
        best: dict[str, float] = {}
        for _ in range(repeats):
            for variant, fn in (("bare", _bare), ("bare-batched", _bare_batched), ("link", _link)):
                dt = await fn(n, payload, s, c)
                best[variant] = min(best.get(variant, dt), dt)
        for variant in ("bare", "bare-batched", "link"):
            rows.append({
                "transport": transport,
                "variant": variant,
                "frames": n,
                "frame_bytes": size,
                "seconds": round(best[variant], 4),
                "frames_per_s": round(n / best[variant]),
                "MB_per_s": round(n * size / best[variant] / 1e6, 1),
                "ratio": round(best["bare"] / best[variant], 2),
                "ratio_batched": round(best["bare-batched"] / best[variant], 2),
            })
    return rows


def run(n: int = 50_000, size: int = 200, repeats: int = 3) -> list[dict[str, Any]]:
    """Rows of figures (one per transport and variant); ``ratio`` is link/bare throughput."""
    return asyncio.run(_run(n, size, repeats))


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 50_000
    size = int(argv[2]) if len(argv) > 2 else 200
    rows = run(n, size)
    print(f"{'transport':9} {'variant':12} {'frames/s':>10} {'MB/s':>7} {'ratio':>6}"
          f" {'ratio_batched':>13}")
    for r in rows:
        print(f"{r['transport']:9} {r['variant']:12} {r['frames_per_s']:>10} {r['MB_per_s']:>7}"
              f" {r['ratio']:>6} {r['ratio_batched']:>13}")
    print(json.dumps(rows))
    tls_link = next(r for r in rows if r["transport"] == "tls" and r["variant"] == "link")
    return 0 if tls_link["ratio"] >= 0.7 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
