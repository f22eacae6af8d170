"""A plain TCP server in its own process for the many-connections test (tests/test_conn_budget).

Run as ``python -m tests.conn_server_worker MAX_CONNECTIONS [CERT CA]`` (with CERT and CA:
mutual TLS, every client certificate named ``client-router-01``): prints its port, then echoes
every frame; the frame ``COUNT`` is answered with the number of connections it holds.  Its
own process, so that the test's clients and the server's connections each have a whole
open-file limit.
"""

from __future__ import annotations

import asyncio
import sys

from clets.adapters.tcp import TcpServer
from clets.adapters.tls import PeerMap, TlsPeer, server_context


async def main(max_connections: int, cert: str | None, ca: str | None) -> None:
    tls = server_context(cert, cert, ca) if cert else None
    peers = PeerMap({"client-router-01": TlsPeer("RTR1")}) if cert else None
    async with TcpServer("127.0.0.1", 0, plain=tls is None, tls=tls, peers=peers,
                         max_connections=max_connections, max_per_peer=max_connections,
                         max_unauthenticated=max_connections) as srv:
        print(srv.port, flush=True)
        while True:
            inbound = await srv.receive()
            if inbound.payload == b"COUNT":
                await inbound.reply(f"{srv.connections} {srv.unauthenticated}".encode())
            else:
                await inbound.reply(inbound.payload)


if __name__ == "__main__":
    tls_files = sys.argv[2:4] if len(sys.argv) > 3 else [None, None]
    asyncio.run(main(int(sys.argv[1]), tls_files[0], tls_files[1]))
