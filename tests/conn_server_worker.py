"""A plain TCP server in its own process for the many-connections test (tests/test_conn_budget).

Run as ``python -m tests.conn_server_worker MAX_CONNECTIONS``: prints its port, then echoes
every frame; the frame ``COUNT`` is answered with the number of connections it holds.  Its
own process, so that the test's clients and the server's connections each have a whole
open-file limit.
"""

from __future__ import annotations

import asyncio
import sys

from clets.adapters.tcp import TcpServer


async def main(max_connections: int) -> None:
    async with TcpServer("127.0.0.1", 0, plain=True, max_connections=max_connections,
                         max_unauthenticated=max_connections) as srv:
        print(srv.port, flush=True)
        while True:
            inbound = await srv.receive()
            if inbound.payload == b"COUNT":
                await inbound.reply(f"{srv.connections} {srv.unauthenticated}".encode())
            else:
                await inbound.reply(inbound.payload)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
